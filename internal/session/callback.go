package session

import (
	"context"
	"crypto/subtle"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"time"
)

// callback receives the browser flow's loopback redirect. Any local
// process (or a web page's no-cors request) can reach the port, so only a
// GET /callback carrying exactly this login's state is taken; everything
// else is answered 400 and ignored, and the wait goes on until the right
// request or the login's timeout. The first matching request wins.
type callback struct {
	state string
	got   chan url.Values
}

func newCallback(state string) *callback {
	return &callback{state: state, got: make(chan url.Values, 1)}
}

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method != http.MethodGet || r.URL.Path != "/callback" || !c.matches(q["state"]) {
		http.Error(w, "not a callback of this login", http.StatusBadRequest)
		return
	}
	select {
	case c.got <- q:
	default: // a second matching request (a reload) changes nothing
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	msg := "Login complete. You can close this window."
	if q.Get("error") != "" {
		msg = "Login failed: " + q.Get("error")
	}
	fmt.Fprintf(w, "<!doctype html><title>spec-kitty</title><p>%s</p>", html.EscapeString(msg))
}

// matches reports whether the request carries exactly one state, this
// login's, compared in constant time.
func (c *callback) matches(states []string) bool {
	return len(states) == 1 && subtle.ConstantTimeCompare([]byte(states[0]), []byte(c.state)) == 1
}

// wait returns the query of the matching callback, or an error when
// timeout passes or ctx ends first.
func (c *callback) wait(ctx context.Context, timeout time.Duration) (url.Values, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case q := <-c.got:
		return q, nil
	case <-t.C:
		return nil, fmt.Errorf("waiting for the login callback: timed out after %v; run spec-kitty auth login again", timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
