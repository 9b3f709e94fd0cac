package session

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// forge sends one request to the login's loopback listener and returns
// the status it was answered with (0 when the request failed: the login
// ended and its listener is gone).
func forge(method, target string) int {
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// browserLogin runs Login.Browser against the OAuth test server with a
// "browser" that hands the authorize URL's redirect_uri and state to
// drive, which plays the local attacker and then, perhaps, the server's
// redirect; drive must return once done is closed. It returns what
// Browser returned and the server's URL, after drive has returned.
func browserLogin(t *testing.T, timeout time.Duration, drive func(redirect, state string, done <-chan struct{})) (*Stored, string, error) {
	t.Helper()
	s := newOAuthServer(t)
	done, driven := make(chan struct{}), make(chan struct{})
	open := func(raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		q := u.Query()
		s.mu.Lock()
		s.challenge, s.redirect = q.Get("code_challenge"), q.Get("redirect_uri")
		s.mu.Unlock()
		go func() {
			defer close(driven)
			drive(q.Get("redirect_uri"), q.Get("state"), done)
		}()
		return nil
	}
	var out strings.Builder
	st, err := (&Login{ServerURL: s.URL, Out: &out, Client: s.Client(), OpenBrowser: open, CallbackTimeout: timeout}).Browser(context.Background())
	close(done)
	<-driven
	return st, s.URL, err
}

// forgeries are requests any local process can send to the callback port;
// none may end or alter the login.
func forgeries(redirect, state string) [][2]string {
	base := strings.TrimSuffix(redirect, "/callback")
	return [][2]string{
		{http.MethodPost, redirect + "?code=evil&state=" + url.QueryEscape(state)},
		{http.MethodHead, redirect + "?code=evil&state=" + url.QueryEscape(state)},
		{http.MethodGet, base + "/other?code=evil&state=" + url.QueryEscape(state)},
		{http.MethodGet, base + "/?code=evil&state=" + url.QueryEscape(state)},
		{http.MethodGet, redirect + "?code=evil"},
		{http.MethodGet, redirect + "?code=evil&state="},
		{http.MethodGet, redirect + "?code=evil&state=wrong"},
		{http.MethodGet, redirect + "?code=evil&state=" + url.QueryEscape(state) + "x"},
		{http.MethodGet, redirect + "?code=evil&state=wrong&state=" + url.QueryEscape(state)},
		{http.MethodGet, redirect + "?error=%1b%5b2J%1b%5d0;pwned%07access_denied&state=wrong"},
		{http.MethodGet, redirect + "?error=access_denied"},
	}
}

// TestCallbackIgnoresForgeriesThenTakesTheLogin: every forged request is
// answered 400 while the login keeps waiting; the server's redirect with
// the right state then completes it with its code.
func TestCallbackIgnoresForgeriesThenTakesTheLogin(t *testing.T) {
	var statuses []int
	var endedEarly bool
	st, server, err := browserLogin(t, time.Minute, func(redirect, state string, done <-chan struct{}) {
		for _, f := range forgeries(redirect, state) {
			statuses = append(statuses, forge(f[0], f[1]))
		}
		select {
		case <-done:
			endedEarly = true
			return
		default:
		}
		forge(http.MethodGet, redirect+"?code=code-1&state="+url.QueryEscape(state))
	})
	if endedEarly {
		t.Fatalf("the login ended on a forged request: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	checkLoginSession(t, st, "authorization_code", server)
	for i, code := range statuses {
		if code != http.StatusBadRequest {
			t.Errorf("forgery %d answered %d, want 400", i, code)
		}
	}
}

// TestCallbackErrorWithTheRightStateEndsTheLogin, with the error text
// quoted: the ESC and BEL of the request never reach the terminal raw.
func TestCallbackErrorWithTheRightStateEndsTheLogin(t *testing.T) {
	_, _, err := browserLogin(t, time.Minute, func(redirect, state string, _ <-chan struct{}) {
		forge(http.MethodGet, redirect+"?error=%1b%5b31mdenied%07&state="+url.QueryEscape(state))
	})
	if err == nil {
		t.Fatal("the login went on after the server's error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\x1b\a") || !strings.Contains(msg, `\x1b[31mdenied\a`) {
		t.Fatalf("error %q: want the request's text with control characters escaped", msg)
	}
}

// TestCallbackWaitIsBounded: forged requests do not keep the login
// waiting past its timeout.
func TestCallbackWaitIsBounded(t *testing.T) {
	_, _, err := browserLogin(t, 300*time.Millisecond, func(redirect, state string, done <-chan struct{}) {
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, f := range forgeries(redirect, state) {
				forge(f[0], f[1])
			}
		}
	})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Browser = %v, want a timeout", err)
	}
}

// TestCallbackHandlerOnlyTakesTheFirstMatch: a reload of the right
// redirect is answered, but the login keeps the first query.
func TestCallbackHandlerOnlyTakesTheFirstMatch(t *testing.T) {
	cb := newCallback("s1")
	srv := &http.Server{Handler: cb}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	base := "http://" + ln.Addr().String() + "/callback"
	if code := forge(http.MethodGet, base+"?code=first&state=s1"); code != http.StatusOK {
		t.Fatalf("right callback answered %d", code)
	}
	if code := forge(http.MethodGet, base+"?code=second&state=s1"); code != http.StatusOK {
		t.Fatalf("reload answered %d", code)
	}
	q, err := cb.wait(context.Background(), time.Second)
	if err != nil || q.Get("code") != "first" {
		t.Fatalf("wait = %v, %v", q, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cb.wait(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait after cancel = %v", err)
	}
}
