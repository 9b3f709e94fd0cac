package loopback

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.1:9400", true},
		{"localhost:9400", true},
		{"LOCALHOST", true},
		{"[::1]:9400", true},
		{"127.1.2.3:80", true},
		{"evil.example", false},
		{"evil.example:9400", false},
		{"localhost.evil.example", false},
		{"10.0.0.1:9400", false},
		{"", false},
	} {
		if got := IsLoopbackHost(tc.host); got != tc.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		name, host, origin string
		sameOrigin         bool
		want               int
	}{
		{"loopback", "127.0.0.1:9400", "", false, http.StatusNoContent},
		{"rebinding host", "evil.example", "", false, http.StatusForbidden},
		{"browser origin on the sync plane", "127.0.0.1:9400", "http://127.0.0.1:9400", false, http.StatusForbidden},
		{"own origin on the dashboard", "127.0.0.1:9237", "http://127.0.0.1:9237", true, http.StatusNoContent},
		{"foreign origin on the dashboard", "127.0.0.1:9237", "http://evil.example", true, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/health", nil)
			req.Host = tc.host
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			Guard(ok, tc.sameOrigin).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
		})
	}
}

func TestDecodeJSONBoundsTheBody(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"token":"`+strings.Repeat("x", 100)+`"}`))
	rec := httptest.NewRecorder()
	var v struct{ Token string }
	if DecodeJSON(rec, req, 32, &v) || rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: decoded, status %d", rec.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{not json`))
	rec = httptest.NewRecorder()
	if DecodeJSON(rec, req, 1024, &v) || rec.Code != http.StatusBadRequest {
		t.Fatalf("garbage body: decoded, status %d", rec.Code)
	}
}

// TestChallengeResetsIdleClock: ensure-running proves the token with a
// challenge just before it publishes; that proof must count as activity, or
// the daemon could retire in between (issue 12, suspicion a).
func TestChallengeResetsIdleClock(t *testing.T) {
	touched := 0
	c := &Control{Token: "tok", Stop: func(string) {}, OnAuth: func() { touched++ }}
	req := httptest.NewRequest(http.MethodPost, "/api/auth/challenge", strings.NewReader(`{"nonce":"0123456789abcdef"}`))
	rec := httptest.NewRecorder()
	c.HandleChallenge(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("challenge: status %d (%s)", rec.Code, rec.Body)
	}
	if touched != 1 {
		t.Errorf("idle clock reset %d times by a challenge, want 1", touched)
	}
}
