package uploader

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// BatchPath is appended to the session's server URL (SPEC §10).
const BatchPath = "/api/v1/events/batch/"

// requestTimeout bounds one batch request, connection included. A server
// that cannot take a batch in 30 s is treated as failing and retried with
// backoff, rather than pinning the uploader (and keeping the daemon Busy)
// indefinitely.
const requestTimeout = 30 * time.Second

// deleteTimeout bounds deleting a batch the server accepted. It runs even
// when the daemon is shutting down, because a batch accepted and not
// deleted is sent again by the next daemon; a local delete takes
// milliseconds, so a few seconds is ample and still bounds the exit.
const deleteTimeout = 5 * time.Second

// maxResponseBytes bounds how much of a server answer is read. The answer's
// content is not needed, only its status; reading it lets the connection be
// reused, and the bound stops a broken server from filling memory.
const maxResponseBytes = 1 << 20

// maxErrorSnippet bounds how much of a failed answer goes into the error.
const maxErrorSnippet = 200

// batchRequest is the body of POST BatchPath.
type batchRequest struct {
	Events []queue.Event `json:"events"`
}

// round sends one batch of queued events and deletes them once accepted.
// It returns how many it sent.
func (u *Uploader) round(ctx context.Context) (int, error) {
	s := u.session()
	if s == nil {
		return 0, nil
	}
	events, err := u.cfg.Queue.Peek(ctx, u.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, nil
	}
	u.inflight.Store(true)
	defer u.inflight.Store(false)
	if err := u.send(ctx, s, events); err != nil {
		return 0, err
	}
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	if err := u.cfg.Queue.Delete(dctx, ids); err != nil {
		return 0, fmt.Errorf("deleting %d accepted events: %w", len(ids), err)
	}
	now := time.Now().UTC()
	u.lastSync.Store(&now)
	u.failures.Store(0)
	return len(events), nil
}

// send posts events to the session's server and reports whether it
// accepted them (any 2xx).
func (u *Uploader) send(ctx context.Context, s *session.Session, events []queue.Event) error {
	body, err := json.Marshal(batchRequest{Events: events})
	if err != nil {
		return fmt.Errorf("encoding a batch of %d events: %w", len(events), err)
	}
	url := strings.TrimRight(s.ServerURL, "/") + BatchPath
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("preparing a batch for %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	resp, err := u.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting %d events to %s: %w", len(events), url, err)
	}
	defer resp.Body.Close()
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("posting %d events to %s: server answered %s: %s",
			len(events), url, resp.Status, snippet(answer))
	}
	if readErr != nil {
		// The status is the verdict; a body cut short changes nothing.
		u.log.Debug("reading batch answer", "err", readErr)
	}
	return nil
}

// snippet makes a short, single-line excerpt of a server answer for an
// error message.
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
