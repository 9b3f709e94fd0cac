// Package client is the typed client of a daemon's loopback control plane.
// The CLI, the lifecycle and the cleanup engine never build URLs themselves.
package client

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// DefaultTimeout bounds one control-plane request. A healthy daemon answers
// in well under 100 ms (SPEC §4.2); half a second tolerates a loaded machine
// without letting a wedged listener stall a command.
const DefaultTimeout = 500 * time.Millisecond

// maxAnswer bounds every answer read from a daemon.
const maxAnswer = 256 << 10

// ErrForbidden is a 403: wrong token or refused origin.
var ErrForbidden = errors.New("forbidden")

// ErrTokenMismatch reports a daemon that could not prove it holds the token.
var ErrTokenMismatch = errors.New("daemon does not hold the recorded token")

// transport never uses a proxy: control traffic is loopback only.
var transport = &http.Transport{
	Proxy:               nil,
	DialContext:         (&net.Dialer{Timeout: DefaultTimeout}).DialContext,
	MaxIdleConnsPerHost: 2,
	IdleConnTimeout:     5 * time.Second,
}

// Client talks to the daemon on one loopback port.
type Client struct {
	port int
	http *http.Client
}

// New returns a client of the daemon on 127.0.0.1:port.
func New(port int) *Client {
	return &Client{port: port, http: &http.Client{
		Transport: transport,
		Timeout:   DefaultTimeout,
		// A redirect would carry a token-bearing request to whatever the
		// listener names; a daemon never redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// URL is the daemon's base URL.
func URL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// Health fetches GET /api/health.
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, URL(c.port)+"/api/health", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking port %d for health: %w", c.port, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, api.MaxHealthBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading health of port %d: %w", c.port, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("health of port %d: HTTP %d", c.port, resp.StatusCode)
	}
	h, _, err := api.ParseHealth(body)
	if err != nil {
		return nil, fmt.Errorf("health of port %d: %w", c.port, err)
	}
	return h, nil
}

// Prove checks that the daemon holds token without sending it: the daemon
// answers HMAC-SHA256(token, nonce) for a fresh nonce.
func (c *Client) Prove(ctx context.Context, token string) error {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	var out api.ChallengeResponse
	req := api.ChallengeRequest{Nonce: hex.EncodeToString(nonce)}
	if err := c.post(ctx, "/api/auth/challenge", req, &out); err != nil {
		return err
	}
	want := MAC(token, req.Nonce)
	if !hmac.Equal([]byte(out.MAC), []byte(want)) {
		return ErrTokenMismatch
	}
	return nil
}

// MAC is the challenge answer for a token and a nonce.
func MAC(token, nonce string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// Shutdown asks the daemon to exit gracefully.
func (c *Client) Shutdown(ctx context.Context, token string) error {
	return c.post(ctx, "/api/shutdown", api.ShutdownRequest{Token: token}, nil)
}

// PublishTimeout bounds one publish attempt. Unlike a health probe, a
// publish waits for an fsync'd commit, which a daemon in the middle of an
// upload, a checkpoint or a loaded machine can take seconds to reach; a
// busy daemon must not be reported as a failure.
const PublishTimeout = 10 * time.Second

// PublishDeadline bounds all attempts of one publish together: the same
// event id is sent again after an attempt whose outcome is unknown, and the
// queue keeps it once.
const PublishDeadline = 30 * time.Second

// ErrMaybeQueued reports a publish whose outcome is unknown: the request
// reached the daemon and no answer came back. A retry with the same event
// id queues it at most once.
var ErrMaybeQueued = errors.New("event may have been queued")

// ErrRefused reports a publish the daemon answered with a refusal: nothing
// was queued.
var ErrRefused = errors.New("event not queued")

// Publish sends one envelope and returns once the daemon has committed it.
// An attempt with no answer is repeated with the same envelope (its
// event_id makes that idempotent) until PublishDeadline; when the outcome
// is still unknown the error wraps ErrMaybeQueued.
func (c *Client) Publish(ctx context.Context, token string, event json.RawMessage) (api.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, PublishDeadline)
	defer cancel()
	slow := &http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect}
	sc := &Client{port: c.port, http: slow}
	var lastErr error
	for attempt := 0; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, PublishTimeout)
		var out api.PublishResponse
		err := sc.post(actx, "/api/sync/publish", api.PublishRequest{Token: token, Event: event}, &out)
		acancel()
		if err == nil {
			return out, nil
		}
		var answered *answerError
		if errors.As(err, &answered) || errors.Is(err, ErrForbidden) {
			return api.PublishResponse{}, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if !sent(err) && attempt == 0 {
			// Nothing reached the daemon: certainly not queued.
			return api.PublishResponse{}, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		lastErr = err
		if ctx.Err() != nil {
			return api.PublishResponse{}, fmt.Errorf("%w: %w", ErrMaybeQueued, lastErr)
		}
		select {
		case <-ctx.Done():
			return api.PublishResponse{}, fmt.Errorf("%w: %w", ErrMaybeQueued, lastErr)
		case <-time.After(publishRetryPause):
		}
	}
}

// publishRetryPause spaces the retries of an unanswered publish.
const publishRetryPause = 200 * time.Millisecond

// sent reports whether a failed request may have reached the daemon: a
// refused or failed dial did not.
func sent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return true
}

// answerError is an HTTP answer other than 2xx: the daemon decided.
type answerError struct {
	status int
	msg    string
}

func (e *answerError) Error() string { return e.msg }

// Trigger wakes the uploader.
func (c *Client) Trigger(ctx context.Context, token string) error {
	return c.post(ctx, "/api/sync/trigger", api.ShutdownRequest{Token: token}, nil)
}

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, URL(c.port)+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s on port %d: %w", path, c.port, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("reading answer of %s on port %d: %w", path, c.port, err)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("calling %s on port %d: %w", path, c.port, ErrForbidden)
	case resp.StatusCode/100 != 2:
		var e api.ErrorResponse
		_ = json.Unmarshal(data, &e)
		return &answerError{status: resp.StatusCode, msg: fmt.Sprintf("calling %s on port %d: HTTP %d %s", path, c.port, resp.StatusCode, e.Error)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding answer of %s on port %d: %w", path, c.port, err)
	}
	return nil
}
