package syncd

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// testDaemon is a daemon with its queue and uploader, not serving.
func testDaemon(t testing.TB) *Daemon {
	t.Helper()
	layout := paths.Layout{Root: t.TempDir()}
	d := New(Config{Port: 9401, Layout: layout, Version: "3.2.4", Token: "tok"})
	stop, err := d.startWork(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.trim.Stop(); stop() })
	return d
}

func healthBody(t testing.TB, h http.Handler) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9401/api/health", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("health answer %d %q", rec.Code, rec.Header())
	}
	return rec.Body.Bytes()
}

// The health answer is exactly the JSON encoding of Health(), with and
// without a session, however it is produced.
func TestHandleHealth_IsTheEncodedPayload(t *testing.T) {
	d := testDaemon(t)
	h := d.routes()
	check := func(what string) {
		t.Helper()
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(d.Health()); err != nil {
			t.Fatal(err)
		}
		if got := healthBody(t, h); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: health answer\n%s\nwant\n%s", what, got, want.Bytes())
		}
	}
	// The uploader takes sync-daemon-upload.lock on its own goroutine; let it
	// settle so that the two encodings compared describe the same state.
	for deadline := time.Now().Add(5 * time.Second); !d.Health().Sync.Uploader; {
		if time.Now().After(deadline) {
			t.Fatal("the only daemon of the scope never became its uploader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	check("no session")
	now := time.Now().UTC()
	s := &session.Stored{
		UserID: "u", Email: `a"b@example.com`, DefaultTeamID: "team <1>",
		Teams:       []session.Team{{ID: "team <1>", Name: "T", IsPrivateTeamspace: true}},
		AccessToken: "secret-token", RefreshToken: "secret-refresh",
		IssuedAt: now, AccessExpires: now.Add(time.Hour), LastUsedAt: now,
		ServerURL: "https://sync.example.com",
	}
	if err := session.Save(d.cfg.Layout.SessionFile(), s); err != nil {
		t.Fatal(err)
	}
	check("with a session")
	if bytes.Contains(healthBody(t, h), []byte("secret-token")) {
		t.Error("the health answer carries the session token")
	}
}

func BenchmarkHandleHealth(b *testing.B) {
	d := testDaemon(b)
	h := d.routes()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9401/api/health", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
