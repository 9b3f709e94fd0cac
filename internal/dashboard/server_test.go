package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
)

const testToken = "s3cret-token"

func newTestServer(t *testing.T, ov Overview) (*Server, *httptest.Server) {
	t.Helper()
	s := NewServer(Config{Port: 9237, Project: "/p", Token: testToken, Version: "3.3.0", Exe: "/bin/sk", Overview: ov})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, ts *httptest.Server, method, path, host, origin, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

func TestHealth(t *testing.T) {
	_, ts := newTestServer(t, nil)
	code, _, body := do(t, ts, "GET", "/api/health", "", "", "")
	if code != 200 {
		t.Fatalf("health: %d %s", code, body)
	}
	h, _, err := api.ParseHealth([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.DaemonFamily != api.FamilyDashboard || h.ProjectPath != "/p" || h.Owner == nil || h.Owner.Port != 9237 {
		t.Fatalf("health = %+v", h)
	}
	if strings.Contains(body, testToken) {
		t.Fatal("health reveals the token")
	}
}

func TestShutdownNeedsToken(t *testing.T) {
	s, ts := newTestServer(t, nil)
	if code, _, _ := do(t, ts, "POST", "/api/shutdown", "", "", `{"token":"wrong"}`); code != http.StatusForbidden {
		t.Fatalf("wrong token: %d, want 403", code)
	}
	if code, _, _ := do(t, ts, "GET", "/api/shutdown", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET shutdown: %d, want 405", code)
	}
	select {
	case r := <-s.stop:
		t.Fatalf("stopping after a refused request: %s", r)
	default:
	}
	if code, _, body := do(t, ts, "POST", "/api/shutdown", "", "", `{"token":"`+testToken+`"}`); code != 200 || !strings.Contains(body, "stopping") {
		t.Fatalf("right token: %d %s", code, body)
	}
	if r := <-s.stop; r == "" {
		t.Fatal("no stop reason")
	}
}

func TestShutdownBodyIsBounded(t *testing.T) {
	_, ts := newTestServer(t, nil)
	big := `{"token":"` + strings.Repeat("a", 64<<10) + `"}`
	if code, _, _ := do(t, ts, "POST", "/api/shutdown", "", "", big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge body: %d, want 413", code)
	}
}

func TestChallengeProvesTokenWithoutRevealingIt(t *testing.T) {
	_, ts := newTestServer(t, nil)
	code, _, body := do(t, ts, "POST", "/api/auth/challenge", "", "", `{"nonce":"abc"}`)
	if code != 200 {
		t.Fatalf("challenge: %d %s", code, body)
	}
	var out api.ChallengeResponse
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if out.MAC != client.MAC(testToken, "abc") || strings.Contains(body, testToken) {
		t.Fatalf("challenge answer %q", body)
	}
	if code, _, _ := do(t, ts, "POST", "/api/auth/challenge", "", "", `{"nonce":""}`); code != http.StatusBadRequest {
		t.Fatalf("empty nonce: %d, want 400", code)
	}
}

func TestGuard(t *testing.T) {
	_, ts := newTestServer(t, nil)
	host := strings.TrimPrefix(ts.URL, "http://")
	tests := []struct {
		name, host, origin string
		want               int
	}{
		{"loopback host", "", "", 200},
		{"localhost", "localhost:9237", "", 200},
		{"rebinding host", "evil.example:9237", "", 403},
		{"same origin page", "", "http://" + host, 200},
		{"cross origin page", "", "http://evil.example", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, body := do(t, ts, "GET", "/api/health", tt.host, tt.origin, ""); code != tt.want {
				t.Fatalf("status %d, want %d (%s)", code, tt.want, body)
			}
		})
	}
}

func TestPage(t *testing.T) {
	_, ts := newTestServer(t, nil)
	code, hdr, body := do(t, ts, "GET", "/", "", "", "")
	if code != 200 || !strings.Contains(body, "Spec Kitty") || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s %.200s", code, hdr.Get("Content-Type"), body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("page CSP = %q", csp)
	}
	for _, asset := range []string{"/app.js", "/app.css"} {
		if code, _, _ := do(t, ts, "GET", asset, "", "", ""); code != 200 {
			t.Fatalf("%s: %d", asset, code)
		}
	}
	if code, _, _ := do(t, ts, "GET", "/nope.js", "", "", ""); code != 404 {
		t.Fatalf("unknown asset: %d, want 404", code)
	}
	// No external asset: the page must work offline.
	for _, f := range []string{"web/index.html", "web/app.js", "web/app.css"} {
		data, err := web.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "http://www.w3.org/2000/svg", "")
		for _, ext := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(text, ext) {
				t.Errorf("%s references %q: the page must not load external assets", f, ext)
			}
		}
	}
}

func TestOverview(t *testing.T) {
	var calls atomic.Int32
	_, ts := newTestServer(t, func(context.Context) (api.SyncOverview, error) {
		calls.Add(1)
		return api.SyncOverview{DoctorReport: api.DoctorReport{SchemaVersion: api.DoctorSchemaVersion, Orphans: []api.IdentityRecord{{Port: 9401, CleanupClass: api.ClassSafeAuto}}}}, nil
	})
	for range 3 {
		code, _, body := do(t, ts, "GET", "/api/sync-overview", "", "", "")
		var rep api.DoctorReport
		if code != 200 || json.Unmarshal([]byte(body), &rep) != nil || len(rep.Orphans) != 1 || rep.Orphans[0].Port != 9401 {
			t.Fatalf("overview: %d %s", code, body)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("three requests within the TTL scanned %d times, want 1", n)
	}
}

func TestOverviewError(t *testing.T) {
	_, ts := newTestServer(t, func(context.Context) (api.SyncOverview, error) {
		return api.SyncOverview{}, errors.New("boom")
	})
	if code, _, body := do(t, ts, "GET", "/api/sync-overview", "", "", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "boom") {
		t.Fatalf("overview error: %d %s", code, body)
	}
	_, none := newTestServer(t, nil)
	if code, _, _ := do(t, none, "GET", "/api/sync-overview", "", "", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("no overview: %d, want 503", code)
	}
}
