package uploader

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestHTTPClient_TokenNeverLeavesTheOrigin: a redirect to another origin
// (here another port of the same host, which net/http alone would send the
// Authorization header to) is refused and the other server sees no request.
// A redirect within the origin is followed with the token (issue 12,
// suspicion b).
func TestHTTPClient_TokenNeverLeavesTheOrigin(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer other.Close()
	var sameAuth string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/api/v1/events/batch/", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/final":
			sameAuth = r.Header.Get("Authorization")
		}
	}))
	defer origin.Close()

	c := NewHTTPClient()
	req, _ := http.NewRequest(http.MethodPost, origin.URL+"/away", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrCrossOriginRedirect) {
		t.Errorf("cross-origin redirect: err = %v, want %v", err, ErrCrossOriginRedirect)
	}
	mu.Lock()
	if len(leaked) != 0 {
		t.Errorf("the other origin received %d request(s), Authorization %q", len(leaked), leaked)
	}
	mu.Unlock()

	req, _ = http.NewRequest(http.MethodPost, origin.URL+"/here", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	resp.Body.Close()
	if sameAuth != "Bearer secret" {
		t.Errorf("same-origin redirect carried Authorization %q", sameAuth)
	}
}

// TestHTTPClient_NoDowngrade: https to http on the same host is another
// origin; so are a subdomain and another port.
func TestHTTPClient_NoDowngrade(t *testing.T) {
	mk := func(s string) *http.Request {
		u, _ := url.Parse(s)
		return &http.Request{URL: u}
	}
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"https://sync.example/api/v1/events/batch/", "http://sync.example/api/v1/events/batch/", false},
		{"https://sync.example/a", "https://evil.sync.example/a", false},
		{"https://sync.example/a", "https://sync.example:8443/a", false},
		{"https://sync.example/a", "https://sync.example:443/b", true},
		{"http://127.0.0.1:8000/a", "http://127.0.0.1:8000/a/", true},
	} {
		err := sameOriginRedirect(mk(tc.to), []*http.Request{mk(tc.from)})
		if (err == nil) != tc.ok {
			t.Errorf("%s -> %s: err = %v, want allowed=%v", tc.from, tc.to, err, tc.ok)
		}
	}
}
