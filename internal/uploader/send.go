package uploader

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// BatchPath is appended to the session's server URL (SPEC §10).
const BatchPath = "/api/v1/events/batch/"

// ProtocolHeader and ProtocolVersion announce the batch protocol the body
// follows; the server answers 412 when it cannot speak it.
const (
	ProtocolHeader  = "X-Spec-Kitty-Sync-Protocol"
	ProtocolVersion = "2.0"
)

// Limits of one batch (the batch contract).
const (
	// MaxBatchEvents is the most events the server takes in one request.
	MaxBatchEvents = 1000
	// MaxBatchBytes bounds the decompressed body.
	MaxBatchBytes = 512 << 10
)

// deleteTimeout bounds recording the server's verdicts. It runs even when
// the daemon is shutting down, because an event the server accepted and
// that is not deleted is sent again by the next daemon; a local update
// takes milliseconds, so a few seconds is ample and still bounds the exit.
const deleteTimeout = 5 * time.Second

// maxResponseBytes bounds how much of a server answer is read: a per-event
// result is about 100 bytes, so 1,000 results fit many times over, and a
// broken server cannot fill memory.
const maxResponseBytes = 1 << 20

// maxErrorSnippet bounds how much of a failed answer goes into an error.
const maxErrorSnippet = 200

// maxRetryAfter caps a server's Retry-After: an absurd value must not park
// the uploader for days.
const maxRetryAfter = time.Hour

// terminalCategories are the server's error categories that mean "never
// accept this event" (upstream's TERMINAL_REJECTION_CATEGORIES); such an
// event is parked at once.
var terminalCategories = map[string]bool{
	"project_not_admitted":  true,
	"project_not_consented": true,
	"project_refused":       true,
	"oversized_event":       true,
}

// failure is a batch-level failure: nothing was decided per event.
type failure struct {
	msg        string         // one readable line, shown to operators
	detail     string         // the raw error for the log, when it says more than msg
	retryAfter *time.Duration // the server's Retry-After, when given
}

// transportError is a request that got no HTTP answer at all.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (f *failure) Error() string { return f.msg }

// tally counts what one delivery decided.
type tally struct {
	deleted, parked, rejected, kept int
}

func (t *tally) add(o tally) {
	t.deleted += o.deleted
	t.parked += o.parked
	t.rejected += o.rejected
	t.kept += o.kept
}

// progressed reports whether the queue moved: something left the upload
// loop. Rejections and pending events alone do not count, so a server that
// rejects everything is not asked again at once.
func (t tally) progressed() bool { return t.deleted+t.parked > 0 }

// attempt is one pass over one batch: the credentials in use, and whether
// the one refresh after a 401 was spent.
type attempt struct {
	creds     session.Credentials
	refreshed bool
}

// deliver sends batch and records every verdict in the queue. A 400
// without details and a 413 split the batch and deliver the halves; a 401
// refreshes the credentials once.
func (u *Uploader) deliver(ctx context.Context, a *attempt, batch []queue.Item) (tally, error) {
	if len(batch) == 0 {
		return tally{}, nil
	}
	status, header, body, err := u.post(ctx, a.creds, batch)
	var te *transportError
	if errors.As(err, &te) {
		return tally{}, &failure{msg: u.scrub(a.creds, readableTransportError(a.creds.ServerURL, te.err)),
			detail: u.scrub(a.creds, err.Error())}
	}
	if err != nil {
		return tally{}, &failure{msg: u.scrub(a.creds, err.Error())}
	}
	switch {
	case status >= 200 && status <= 299:
		return u.applyResults(ctx, batch, body)
	case status == http.StatusBadRequest:
		if t, rest, ok, err := u.applyDetails(ctx, batch, body); ok {
			if err != nil {
				return t, err
			}
			// The rest were rolled back with the batch: send them again
			// now, without the refused ones, so one bad event cannot hold
			// them up.
			t2, err := u.deliver(ctx, a, rest)
			t.add(t2)
			return t, err
		}
		if len(batch) == 1 {
			return u.park(ctx, batch, "server refused the event (HTTP 400): "+serverReason(body))
		}
		return u.split(ctx, a, batch)
	case status == http.StatusRequestEntityTooLarge:
		if len(batch) == 1 {
			return u.park(ctx, batch, "oversized event: the server refused it as too large (HTTP 413)")
		}
		return u.split(ctx, a, batch)
	case status == http.StatusUnauthorized && !a.refreshed:
		a.refreshed = true
		creds, err := u.cfg.Provider.Refresh(ctx, a.creds.AccessToken)
		if err != nil {
			return tally{}, &failure{msg: u.scrub(a.creds, fmt.Sprintf("server answered 401 and refreshing the session failed: %v", err))}
		}
		a.creds = creds
		return u.deliver(ctx, a, batch)
	case status == http.StatusPreconditionFailed:
		// 412: the server refuses this protocol; the pass stops here.
		return tally{}, &failure{msg: u.scrub(a.creds,
			"server refused this CLI's sync protocol "+ProtocolVersion+" (HTTP 412): "+serverReason(body)+"; upgrade spec-kitty")}
	default:
		f := &failure{msg: u.scrub(a.creds, fmt.Sprintf("server answered HTTP %d: %s", status, serverReason(body)))}
		if d, ok := retryAfter(header.Get("Retry-After"), time.Now()); ok {
			f.retryAfter = &d
		}
		return tally{}, f
	}
}

// split delivers the two halves of batch in turn, stopping at the first
// batch-level failure.
func (u *Uploader) split(ctx context.Context, a *attempt, batch []queue.Item) (tally, error) {
	mid := len(batch) / 2
	t, err := u.deliver(ctx, a, batch[:mid])
	if err != nil {
		return t, err
	}
	t2, err := u.deliver(ctx, a, batch[mid:])
	t.add(t2)
	return t, err
}

// post sends one gzip-compressed batch and returns the answer.
func (u *Uploader) post(ctx context.Context, creds session.Credentials, batch []queue.Item) (int, http.Header, []byte, error) {
	plain := encodeBatch(batch, creds.Team)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(plain); err != nil {
		return 0, nil, nil, fmt.Errorf("compressing a batch: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, nil, nil, fmt.Errorf("compressing a batch: %w", err)
	}
	url := strings.TrimRight(creds.ServerURL, "/") + BatchPath
	ctx, cancel := context.WithTimeout(ctx, u.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &gz)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("preparing a batch for %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(ProtocolHeader, ProtocolVersion)
	req.Header.Set("Authorization", "Bearer "+creds.AccessToken)
	resp, err := u.cfg.Client.Do(req)
	if err != nil {
		return 0, nil, nil, &transportError{fmt.Errorf("posting %d events to %s: %w", len(batch), url, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil && resp.StatusCode/100 == 2 {
		// Without the whole answer the verdicts are unknown: keep the
		// events and try again.
		return 0, nil, nil, fmt.Errorf("reading the answer for %d events from %s: %w", len(batch), url, err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// encodeBatch is the decompressed body: {"events": [...]} with team_slug
// filled from the session where the publisher had none.
func encodeBatch(batch []queue.Item, team string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, it := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(withTeam(it.Envelope, team))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// withTeam sets team_slug when it is null or missing.
func withTeam(env []byte, team string) []byte {
	if team == "" {
		return env
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(env, &obj) != nil {
		return env
	}
	if v, ok := obj["team_slug"]; ok && string(v) != "null" {
		return env
	}
	obj["team_slug"], _ = json.Marshal(team)
	out, err := json.Marshal(obj)
	if err != nil {
		return env
	}
	return out
}

// batchBytes is the size of encodeBatch's output for n events of
// envBytes bytes in all.
func batchBytes(n int, envBytes int) int { return len(`{"events":[]}`) + envBytes + max(n-1, 0) }

// result is one entry of the answer's results[].
type result struct {
	EventID       string `json:"event_id"`
	Status        string `json:"status"`
	Error         string `json:"error"`
	ErrorMessage  string `json:"error_message"`
	ErrorCategory string `json:"error_category"`
	Category      string `json:"category"`
	Code          string `json:"code"`
}

func (r result) reason() string {
	if r.Error != "" {
		return r.Error
	}
	return r.ErrorMessage
}

func (r result) category() string {
	for _, c := range []string{r.ErrorCategory, r.Category, r.Code} {
		if c != "" {
			return strings.ToLower(c)
		}
	}
	return ""
}

// applyResults records the per-event verdicts of a 2xx answer: accepted and
// duplicate events are deleted, pending ones kept, rejected ones counted
// (parked when terminal); an event the answer does not mention is kept.
func (u *Uploader) applyResults(ctx context.Context, batch []queue.Item, body []byte) (tally, error) {
	var answer struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Results == nil {
		return tally{}, &failure{msg: "server accepted the batch without per-event results; events kept: " + snippet(body)}
	}
	verdicts := make(map[string]result, len(answer.Results))
	for _, r := range answer.Results {
		verdicts[r.EventID] = r
	}
	var del, keep []string
	park := map[string][]string{}   // reason -> ids
	reject := map[string][]string{} // reason -> ids
	for _, it := range batch {
		r, ok := verdicts[it.EventID]
		if !ok {
			keep = append(keep, it.EventID)
			continue
		}
		switch strings.ToLower(r.Status) {
		case "success", "accepted", "warning", "duplicate":
			del = append(del, it.EventID)
		case "rejected":
			reason := "rejected by the server: " + orUnknown(r.reason())
			if cat := r.category(); terminalCategories[cat] {
				park[reason+" ("+cat+")"] = append(park[reason+" ("+cat+")"], it.EventID)
			} else {
				reject[reason] = append(reject[reason], it.EventID)
			}
		default: // pending, queued, or a status this build does not know
			keep = append(keep, it.EventID)
		}
	}
	return u.record(ctx, del, park, reject, len(keep))
}

// applyDetails records the per-event reasons of a 400 that names its
// events and returns the events it did not name. ok is false when the
// answer names none: the caller splits.
func (u *Uploader) applyDetails(ctx context.Context, batch []queue.Item, body []byte) (t tally, rest []queue.Item, ok bool, err error) {
	var answer struct {
		Error   string          `json:"error"`
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(body, &answer) != nil || len(answer.Details) == 0 {
		return tally{}, nil, false, nil
	}
	var details []struct {
		EventID string `json:"event_id"`
		Error   string `json:"error"`
		Reason  string `json:"reason"`
		result
	}
	if json.Unmarshal(answer.Details, &details) != nil {
		// A JSON string that encodes the list.
		var s string
		if json.Unmarshal(answer.Details, &s) != nil || json.Unmarshal([]byte(s), &details) != nil {
			return tally{}, nil, false, nil
		}
	}
	inBatch := map[string]bool{}
	for _, it := range batch {
		inBatch[it.EventID] = true
	}
	park := map[string][]string{}
	reject := map[string][]string{}
	named := map[string]bool{}
	for _, d := range details {
		if !inBatch[d.EventID] || named[d.EventID] {
			continue
		}
		named[d.EventID] = true
		why := d.Error
		if why == "" {
			why = d.Reason
		}
		reason := "refused by the server (HTTP 400): " + orUnknown(why)
		if cat := d.result.category(); terminalCategories[cat] {
			park[reason] = append(park[reason], d.EventID)
		} else {
			reject[reason] = append(reject[reason], d.EventID)
		}
	}
	if len(named) == 0 {
		return tally{}, nil, false, nil
	}
	for _, it := range batch {
		if !named[it.EventID] {
			rest = append(rest, it)
		}
	}
	t, err = u.record(ctx, nil, park, reject, 0)
	return t, rest, true, err
}

func (u *Uploader) park(ctx context.Context, batch []queue.Item, reason string) (tally, error) {
	ids := make([]string, len(batch))
	for i, it := range batch {
		ids[i] = it.EventID
	}
	return u.record(ctx, nil, map[string][]string{reason: ids}, nil, 0)
}

// record writes the verdicts. It runs even while the daemon shuts down
// (bounded by deleteTimeout): a verdict lost here means a resend.
func (u *Uploader) record(ctx context.Context, del []string, park, reject map[string][]string, kept int) (tally, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	t := tally{kept: kept}
	if err := u.cfg.Queue.Delete(ctx, del); err != nil {
		return t, fmt.Errorf("deleting %d delivered events: %w", len(del), err)
	}
	t.deleted = len(del)
	for reason, ids := range park {
		if err := u.cfg.Queue.Park(ctx, ids, reason); err != nil {
			return t, err
		}
		t.parked += len(ids)
		u.log.Warn("parked events the server will not take", "events", len(ids), "reason", reason)
	}
	for reason, ids := range reject {
		if err := u.cfg.Queue.Reject(ctx, ids, reason, u.cfg.MaxRejections); err != nil {
			return t, err
		}
		t.rejected += len(ids)
	}
	return t, nil
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(max(secs, 0)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// serverReason is the error text of a JSON answer, else a snippet of it.
func serverReason(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error != "" {
			return snippet([]byte(e.Error))
		}
		if e.Message != "" {
			return snippet([]byte(e.Message))
		}
	}
	return orUnknown(snippet(body))
}

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// scrub removes the access token and any bearer credential from msg: an
// error becomes LastError and a log line, which never carry a token.
func (u *Uploader) scrub(creds session.Credentials, msg string) string {
	if creds.AccessToken != "" {
		msg = strings.ReplaceAll(msg, creds.AccessToken, "[redacted]")
	}
	msg = bearerRE.ReplaceAllString(msg, "Bearer [redacted]")
	return msg
}

// bearerRE finds a bearer credential in text a server echoed.
var bearerRE = regexp.MustCompile(`(?i)bearer\s+[^\s"',;]+`)

// snippet makes a short, single-line excerpt of a server answer.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxErrorSnippet {
		s = s[:maxErrorSnippet] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
