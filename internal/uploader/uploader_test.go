package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/batchtest"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// waitFor bounds every wait of these tests: generous for a loaded CI
// machine, and only reached when a test is failing anyway.
const waitFor = 10 * time.Second

const (
	projectA = "550e8400-e29b-41d4-a716-446655440000"
	projectB = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
)

// fakeProvider is a session.Provider with a token that Refresh replaces.
type fakeProvider struct {
	mu        sync.Mutex
	url       string
	token     string
	next      string // what Refresh hands out; "" fails the refresh
	refreshes []string
	loggedOut bool
	credErr   error // returned by Credentials when set
	credCalls int
	noTeam    bool // the login has no Private Teamspace
}

func (p *fakeProvider) Credentials(context.Context) (session.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.credCalls++
	if p.credErr != nil {
		return session.Credentials{}, p.credErr
	}
	if p.loggedOut {
		return session.Credentials{}, fmt.Errorf("reading the session: %w", session.ErrNotLoggedIn)
	}
	team := "team-t"
	if p.noTeam {
		team = ""
	}
	return session.Credentials{ServerURL: p.url, AccessToken: p.token, Team: team, Principal: "u@example.com"}, nil
}

func (p *fakeProvider) Refresh(_ context.Context, rejected string) (session.Credentials, error) {
	p.mu.Lock()
	p.refreshes = append(p.refreshes, rejected)
	if p.next == "" {
		p.mu.Unlock()
		return session.Credentials{}, errors.New("refresh token expired")
	}
	p.token = p.next
	p.mu.Unlock()
	return p.Credentials(context.Background())
}

type rig struct {
	t   *testing.T
	q   *queue.Queue
	srv *batchtest.Server
	p   *fakeProvider
	u   *Uploader
	log *bytes.Buffer
}

// newRig wires a queue, a contract server and an uploader whose backoff
// and interval are an hour: a test that needs a retry drives drain itself,
// so nothing depends on timing.
func newRig(t *testing.T, script batchtest.Script, mod ...func(*Config)) *rig {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "sync-daemon-queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	srv := batchtest.New("tok-1", script)
	t.Cleanup(srv.Close)
	p := &fakeProvider{url: srv.URL, token: "tok-1"}
	var logBuf bytes.Buffer
	cfg := Config{
		Queue: q, Provider: p, MinBackoff: time.Hour, MaxBackoff: time.Hour, Interval: time.Hour,
		Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: &logBuf}, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	r := &rig{t: t, q: q, srv: srv, p: p, u: New(cfg), log: &logBuf}
	t.Cleanup(func() {
		for _, v := range srv.Violations() {
			t.Errorf("contract violation: %s", v)
		}
	})
	return r
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// publish queues n valid envelopes of project and returns their ids.
func (r *rig) publish(project string, n int, payload ...string) []string {
	r.t.Helper()
	body := `{"error_type":"e","error_message":"m"}`
	if len(payload) > 0 {
		body = payload[0]
	}
	var ids []string
	for range n {
		env, _, err := events.Build(events.Request{
			Type: "ErrorLogged", AggregateID: "agg", AggregateType: "Mission",
			Payload: json.RawMessage(body), Project: events.Project{UUID: project, BuildID: "b-1"},
		})
		if err != nil {
			r.t.Fatal(err)
		}
		p, err := r.q.Publish(context.Background(), env)
		if err != nil {
			r.t.Fatal(err)
		}
		ids = append(ids, p.EventID)
	}
	return ids
}

// drain runs drain passes until the upload loop is empty or max passes.
func (r *rig) drain(max int) {
	r.t.Helper()
	for range max {
		r.u.drain(context.Background())
		if n, _ := r.q.Ready(context.Background()); n == 0 {
			return
		}
	}
}

func (r *rig) counts() queue.Counts {
	r.t.Helper()
	c, err := r.q.Counts(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// assertOnce checks that every id was stored by the server exactly once.
func (r *rig) assertOnce(ids []string) {
	r.t.Helper()
	got := r.srv.Delivered()
	for _, id := range ids {
		if got[id] != 1 {
			r.t.Errorf("event %s delivered %d times, want 1", id, got[id])
		}
	}
}

func TestContract_ValidEnvelopesOneProjectPerBatchDeliveredOnce(t *testing.T) {
	r := newRig(t, nil, func(c *Config) { c.BatchSize = 7 })
	a := r.publish(projectA, 10)
	b := r.publish(projectB, 5)
	a = append(a, r.publish(projectA, 3)...)
	r.drain(10)
	r.assertOnce(append(a, b...))
	if c := r.counts(); c.Depth != 0 {
		t.Errorf("queue holds %d after a clean drain", c.Depth)
	}
	for _, batch := range r.srv.Batches() {
		if len(batch) > 7 {
			t.Errorf("batch of %d events, BatchSize 7", len(batch))
		}
	}
	st := r.u.Status()
	if st.LastSync == nil || st.LastError != nil || st.ConsecutiveFailures != 0 {
		t.Errorf("status after success = %+v", st)
	}
}

func TestContract_TeamSlugFilledFromSession(t *testing.T) {
	var teams []any
	r := newRig(t, func(req batchtest.Request) batchtest.Answer {
		for _, e := range req.Events {
			teams = append(teams, e["team_slug"])
		}
		return batchtest.Answer{}
	})
	r.publish(projectA, 2)
	r.drain(2)
	if len(teams) != 2 || teams[0] != "team-t" {
		t.Errorf("team_slug sent = %v, want the session's team", teams)
	}
}

func TestContract_MixedResults(t *testing.T) {
	var r *rig
	var ids []string
	r = newRig(t, func(req batchtest.Request) batchtest.Answer {
		if req.N > 1 {
			return batchtest.Answer{} // later passes: accept what is left
		}
		res := []map[string]string{}
		res = append(res, r.srv.Store([]string{ids[0]}, nil)...) // success
		res = append(res, r.srv.Store([]string{ids[1]}, nil)...) // stored once before...
		res = append(res, batchtest.Result(ids[1], "duplicate")) // ...and duplicate now (two entries, one delete)
		res = append(res, batchtest.Result(ids[2], "pending"))   // kept
		res = append(res, batchtest.Result(ids[3], "rejected", "error", "Invalid payload: missing field"))
		res = append(res, batchtest.Result(ids[4], "rejected", "error", "project refused", "error_category", "project_refused"))
		// ids[5] is not mentioned: kept
		return batchtest.Answer{Status: 200, Body: map[string]any{"results": res}}
	})
	ids = r.publish(projectA, 6)
	if _, err := r.u.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	ready, _ := r.q.Peek(context.Background(), 10)
	var left []string
	for _, it := range ready {
		left = append(left, it.EventID)
		if it.EventID == ids[3] && it.RetryCount != 1 {
			t.Errorf("rejected event has retry_count %d, want 1", it.RetryCount)
		}
	}
	if want := []string{ids[2], ids[3], ids[5]}; fmt.Sprint(left) != fmt.Sprint(want) {
		t.Errorf("upload loop after mixed results = %v, want %v", left, want)
	}
	parked, _ := r.q.Parked(context.Background(), 10)
	if len(parked) != 1 || parked[0].EventID != ids[4] || !strings.Contains(parked[0].LastError, "project_refused") {
		t.Errorf("parked = %+v, want the terminal rejection", parked)
	}
	r.drain(3)
	r.assertOnce([]string{ids[0], ids[2], ids[3], ids[5]})
	if d := r.srv.Delivered(); d[ids[4]] != 0 {
		t.Error("the terminally rejected event was delivered")
	}
	r.u.recount(context.Background())
	if st := r.u.Status(); st.Parked != 1 || st.QueueDepth != 1 {
		t.Errorf("status = %+v, want parked 1 of depth 1", st)
	}
}

func TestContract_RejectedTooOftenIsParked(t *testing.T) {
	r := newRig(t, func(req batchtest.Request) batchtest.Answer {
		res := []map[string]string{}
		for _, id := range req.IDs {
			res = append(res, batchtest.Result(id, "rejected", "error", "schema mismatch"))
		}
		return batchtest.Answer{Status: 200, Body: map[string]any{"results": res}}
	}, func(c *Config) { c.MaxRejections = 3 })
	ids := r.publish(projectA, 1)
	for range 3 {
		r.u.drain(context.Background())
	}
	if c := r.counts(); c.Parked != 1 || c.Depth != 1 {
		t.Errorf("counts = %+v, want the event parked after 3 rejections", c)
	}
	if seen := r.srv.Seen()[ids[0]]; seen != 3 {
		t.Errorf("event sent %d times, want 3", seen)
	}
}

// poisoned answers 400 without details to any batch holding bad.
func poisoned(srv **batchtest.Server, bad string) batchtest.Script {
	return func(req batchtest.Request) batchtest.Answer {
		for _, id := range req.IDs {
			if id == bad {
				return batchtest.Answer{Status: 400, Body: map[string]string{"error": "Batch processing failed", "details": "Transaction rolled back"}}
			}
		}
		return batchtest.Answer{}
	}
}

func TestContract_PoisonedEventFoundBySplittingAndParked(t *testing.T) {
	var srv *batchtest.Server
	var bad string
	r := newRig(t, func(req batchtest.Request) batchtest.Answer { return poisoned(&srv, bad)(req) })
	srv = r.srv
	ids := r.publish(projectA, 16)
	bad = ids[11]
	r.drain(3)
	var good []string
	for _, id := range ids {
		if id != bad {
			good = append(good, id)
		}
	}
	r.assertOnce(good)
	parked, _ := r.q.Parked(context.Background(), 10)
	if len(parked) != 1 || parked[0].EventID != bad || !strings.Contains(parked[0].LastError, "400") {
		t.Errorf("parked = %+v, want only the poisoned event", parked)
	}
	if c := r.counts(); c.Depth != 1 {
		t.Errorf("depth %d, want only the parked event", c.Depth)
	}
}

func TestContract_400WithDetailsRejectsNamedEvent(t *testing.T) {
	var bad string
	r := newRig(t, func(req batchtest.Request) batchtest.Answer {
		for _, id := range req.IDs {
			if id == bad {
				return batchtest.Answer{Status: 400, Body: map[string]any{
					"error":   "Batch validation failed",
					"details": []map[string]string{{"event_id": bad, "error": "Invalid schema: project_uuid authorization check failed"}},
				}}
			}
		}
		return batchtest.Answer{}
	})
	ids := r.publish(projectA, 4)
	bad = ids[2]
	if _, err := r.u.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.assertOnce([]string{ids[0], ids[1], ids[3]})
	ready, _ := r.q.Peek(context.Background(), 10)
	if len(ready) != 1 || ready[0].EventID != bad || ready[0].RetryCount != 1 {
		t.Errorf("left = %v, want the named event with one retry", eventIDs(ready))
	}
}

func TestContract_413HalvesAndParksOversizedEvent(t *testing.T) {
	var big string
	r := newRig(t, func(req batchtest.Request) batchtest.Answer {
		if len(req.IDs) > 4 {
			return batchtest.Answer{Status: 413, Body: map[string]string{"error": "batch payload exceeds decompressed byte limit"}}
		}
		for _, id := range req.IDs {
			if id == big {
				return batchtest.Answer{Status: 413, Body: map[string]string{"error": "single event exceeds decompressed byte limit"}}
			}
		}
		return batchtest.Answer{}
	})
	ids := r.publish(projectA, 13)
	big = ids[6]
	r.drain(3)
	var good []string
	for _, id := range ids {
		if id != big {
			good = append(good, id)
		}
	}
	r.assertOnce(good)
	parked, _ := r.q.Parked(context.Background(), 10)
	if len(parked) != 1 || parked[0].EventID != big || !strings.Contains(parked[0].LastError, "oversized") {
		t.Errorf("parked = %+v, want the oversized event", parked)
	}
}

func TestContract_EventOverBatchLimitIsParkedUnsent(t *testing.T) {
	r := newRig(t, nil, func(c *Config) { c.MaxBatchBytes = 2048 })
	small := r.publish(projectA, 2)
	big := r.publish(projectA, 1, `{"error_type":"e","error_message":"`+strings.Repeat("x", 4096)+`"}`)
	r.drain(3)
	r.assertOnce(small)
	if r.srv.Seen()[big[0]] != 0 {
		t.Error("an event over the batch limit was sent")
	}
	if c := r.counts(); c.Parked != 1 {
		t.Errorf("counts = %+v, want the big event parked", c)
	}
}

func TestContract_412StopsThePass(t *testing.T) {
	r := newRig(t, func(batchtest.Request) batchtest.Answer {
		return batchtest.Answer{Status: 412, Body: map[string]string{"error": "client-too-old"}}
	}, func(c *Config) { c.BatchSize = 2 })
	r.publish(projectA, 6)
	wait, backingOff := r.u.drain(context.Background())
	if !backingOff || wait <= 0 {
		t.Errorf("drain after 412 = %v, %v; want a backoff", wait, backingOff)
	}
	if n := r.srv.Requests(); n != 1 {
		t.Errorf("%d requests in the pass, want 1 (412 stops it)", n)
	}
	st := r.u.Status()
	if c := r.counts(); c.Depth != 6 || c.Parked != 0 {
		t.Errorf("counts = %+v, want every event kept, none parked", c)
	}
	if st.LastError == nil || !strings.Contains(*st.LastError, "412") || st.ConsecutiveFailures != 1 {
		t.Errorf("status = %+v, want the 412 as last error", st)
	}
}

func TestContract_401RefreshesThenRetriesOnce(t *testing.T) {
	r := newRig(t, nil)
	r.srv.SetToken("tok-2")
	r.p.next = "tok-2"
	ids := r.publish(projectA, 3)
	r.u.drain(context.Background())
	r.assertOnce(ids)
	if fmt.Sprint(r.p.refreshes) != "[tok-1]" {
		t.Errorf("refreshes = %v, want one, of the rejected tok-1", r.p.refreshes)
	}
}

func TestContract_401AfterRefreshIsAFailure(t *testing.T) {
	r := newRig(t, nil)
	r.srv.SetToken("never")
	r.p.next = "tok-2"
	r.publish(projectA, 2)
	if _, backingOff := r.u.drain(context.Background()); !backingOff {
		t.Error("drain did not back off after a second 401")
	}
	if n := r.srv.Requests(); n != 2 {
		t.Errorf("%d requests, want 2 (one retry after the refresh)", n)
	}
	if c := r.counts(); c.Depth != 2 || c.Parked != 0 {
		t.Errorf("counts = %+v, want the events kept", c)
	}
}

func TestContract_TransientStatusesKeepEventsAndHonourRetryAfter(t *testing.T) {
	for _, code := range []int{403, 408, 429, 500, 502, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			fails := 2
			r := newRig(t, func(req batchtest.Request) batchtest.Answer {
				if req.N <= fails {
					return batchtest.Answer{Status: code, Header: map[string]string{"Retry-After": "0"},
						Body: map[string]string{"error": "echo Authorization: Bearer " + req.Token}}
				}
				return batchtest.Answer{}
			})
			ids := r.publish(projectA, 5)
			for i := range fails {
				wait, backingOff := r.u.drain(context.Background())
				// MinBackoff is an hour: only Retry-After explains 0.
				if !backingOff || wait != 0 {
					t.Fatalf("pass %d: wait %v backing off %v; want Retry-After's 0", i, wait, backingOff)
				}
				st := r.u.Status()
				if st.LastError == nil || strings.Contains(*st.LastError, "tok-1") || !strings.Contains(*st.LastError, fmt.Sprint(code)) {
					t.Fatalf("last error %v: want the status, never the token", st.LastError)
				}
			}
			if c := r.counts(); c.Depth != 5 {
				t.Fatalf("depth %d during the outage, want 5", c.Depth)
			}
			r.u.drain(context.Background())
			r.assertOnce(ids)
			if st := r.u.Status(); st.LastError != nil || st.ConsecutiveFailures != 0 {
				t.Errorf("status after recovery = %+v", st)
			}
			if strings.Contains(r.log.String(), "tok-1") {
				t.Error("the log holds the token")
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"absent", "", 0, false},
		{"zero", "0", 0, true},
		{"seconds", "7", 7 * time.Second, true},
		{"negative", "-3", 0, true},
		{"capped", "99999999", maxRetryAfter, true},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"past date", now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"garbage", "soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := retryAfter(tt.in, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFailureLog_OnlyOnChangeThenRarely(t *testing.T) {
	code := 503
	r := newRig(t, func(req batchtest.Request) batchtest.Answer {
		if code != 0 {
			return batchtest.Answer{Status: code, Body: map[string]string{"error": "down"}}
		}
		return batchtest.Answer{}
	})
	r.publish(projectA, 1)
	for range 5 {
		r.u.drain(context.Background())
	}
	code = 502
	for range 3 {
		r.u.drain(context.Background())
	}
	code = 0
	r.u.drain(context.Background())
	logText := r.log.String()
	if n := strings.Count(logText, "uploading events failed"); n != 2 {
		t.Errorf("%d failure lines for 8 failures of 2 kinds, want 2:\n%s", n, logText)
	}
	if n := strings.Count(logText, "uploads recovered"); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}

func TestNoSession_KeepsEventsQueued(t *testing.T) {
	r := newRig(t, nil)
	r.p.loggedOut = true
	r.publish(projectA, 2)
	if _, backingOff := r.u.drain(context.Background()); backingOff {
		t.Error("no session counted as a failure")
	}
	if r.srv.Requests() != 0 || r.counts().Depth != 2 {
		t.Error("events left the machine without a session")
	}
	if r.u.Busy() {
		t.Error("Busy with no session: the daemon could never retire")
	}
}

func TestBusy_IgnoresParkedEvents(t *testing.T) {
	r := newRig(t, nil)
	ids := r.publish(projectA, 1)
	if !r.u.Busy() {
		t.Error("Busy = false with an event to upload")
	}
	if err := r.q.Park(context.Background(), ids, "test"); err != nil {
		t.Fatal(err)
	}
	if r.u.Busy() {
		t.Error("Busy = true with only a parked event")
	}
}

// TestBusy_RefreshFailureKeepsTheDaemon: a login that cannot be refreshed
// just now (server unreachable, refresh.lock held) is still a login: the
// daemon with events to send stays. An idle daemon does not even ask for
// credentials, so it never refreshes a token it has no use for.
func TestBusy_RefreshFailureKeepsTheDaemon(t *testing.T) {
	r := newRig(t, nil)
	if r.u.Busy() || r.p.credCalls != 0 {
		t.Fatalf("idle: Busy or asked for credentials %d times", r.p.credCalls)
	}
	if _, backingOff := r.u.drain(context.Background()); backingOff || r.p.credCalls != 0 {
		t.Fatalf("a round with nothing to send asked for credentials %d times", r.p.credCalls)
	}
	r.publish(projectA, 1)
	r.p.credErr = fmt.Errorf("%w: token endpoint unreachable", session.ErrRefreshRetry)
	if !r.u.Busy() {
		t.Error("Busy = false with an event queued and a refresh that failed for now")
	}
}

func TestRun_UploadsOnNotify(t *testing.T) {
	r := newRig(t, nil)
	rounds := make(chan struct{}, 10)
	r.u.roundHook = func() { rounds <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.u.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-rounds
	ids := r.publish(projectA, 2)
	r.u.Notify()
	select {
	case <-rounds:
	case <-time.After(waitFor):
		t.Fatal("no round after Notify")
	}
	r.assertOnce(ids)
}

func TestTrigger_NeverBlocks(t *testing.T) {
	u := New(Config{})
	for range 1000 {
		u.Trigger()
		u.Notify()
	}
}

func TestUnreachableServer_CountsFailure(t *testing.T) {
	r := newRig(t, nil)
	dead := httptest.NewServer(http.NotFoundHandler())
	r.p.url = dead.URL
	dead.Close()
	r.publish(projectA, 1)
	if _, backingOff := r.u.drain(context.Background()); !backingOff {
		t.Error("an unreachable server did not back off")
	}
	if st := r.u.Status(); st.ConsecutiveFailures != 1 || st.QueueDepth != 1 || st.LastError == nil {
		t.Errorf("status = %+v", st)
	}
}

func eventIDs(items []queue.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.EventID)
	}
	return out
}

func TestContract_BatchesStayUnder512KiB(t *testing.T) {
	r := newRig(t, nil)
	big := `{"error_type":"e","error_message":"` + strings.Repeat("x", 120<<10) + `"}`
	ids := r.publish(projectA, 8, big)
	r.drain(3)
	r.assertOnce(ids)
	if n := len(r.srv.Batches()); n < 2 {
		t.Errorf("%d batches for 8 events of 120 KiB, want the byte limit to split them", n)
	}
	// batchtest reports any body over 512 KiB as a contract violation.
}
