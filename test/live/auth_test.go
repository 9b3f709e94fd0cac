//go:build linux

package live

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// loginServer is the login surface of a spec-kitty server as upstream's
// flows use it: the device grant, /api/v1/me and revocation.
type loginServer struct {
	*httptest.Server
	mu      sync.Mutex
	revoked []string
}

func newLoginServer(t *testing.T) *loginServer {
	s := &loginServer{}
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/device", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"device_code": "dev", "user_code": "WXYZ9876", "verification_uri": s.URL + "/device", "expires_in": 300, "interval": 1})
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("device_code") != "dev" || r.PostForm.Get("client_id") != "cli_native" {
			reply(w, 400, map[string]any{"error": "invalid_grant"})
			return
		}
		reply(w, 200, map[string]any{"access_token": "dev-access", "refresh_token": "dev-refresh", "token_type": "Bearer", "expires_in": 3600, "session_id": "s-1"})
	})
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"user_id": "u-1", "email": "dev@example.com", "name": "Dev",
			"teams": []map[string]any{{"id": "tp", "name": "Private", "role": "owner", "is_private_teamspace": true}}})
	})
	mux.HandleFunc("POST /oauth/revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.revoked = append(s.revoked, r.PostForm.Get("token"))
		s.mu.Unlock()
		reply(w, 200, map[string]any{"revoked": true})
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// pythonFiles plants the Python CLI's other files under the root and
// returns their paths relative to it.
func pythonFiles(t *testing.T, e *testenv.Env, server string) []string {
	t.Helper()
	files := map[string]string{
		"queue.db":                     "SQLite format 3\x00python legacy queue",
		"queues/abc123.db":             "SQLite format 3\x00scoped queue",
		"queues/abc123.db-wal":         "wal bytes",
		"projects/p1/state.json":       `{"project": "p1"}`,
		"config.toml":                  "[sync]\nserver_url = \"" + server + "\"\n",
		"auth/refresh.lock":            "",
		"auth/session.lock":            "",
		"auth/python-only-file.json":   `{"kept": true}`,
		"auth/session.hot-path.json.x": "not the hot path",
	}
	var names []string
	for name, content := range files {
		p := e.Path(filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

func snapshot(t *testing.T, e *testenv.Env, names []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(e.Path(filepath.FromSlash(n)))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out[n] = b
	}
	return out
}

func requireSame(t *testing.T, step string, before, after map[string][]byte) {
	t.Helper()
	for n, b := range before {
		if !bytes.Equal(b, after[n]) {
			t.Errorf("after %s: %s changed: %q -> %q", step, n, b, after[n])
		}
	}
}

// TestAuthCommandsKeepPythonFilesIntact runs every auth command of the real
// binary over a runtime root that also holds the Python CLI's files and a
// session in its format: the session is read, logged out (revoked and
// removed the way upstream removes it), logged in again by the device flow
// and by a CI token, and every other Python file is byte-identical after
// each command.
func TestAuthCommandsKeepPythonFilesIntact(t *testing.T) {
	e := testenv.New(t)
	srv := newLoginServer(t)
	names := pythonFiles(t, e, srv.URL)
	sessionFile := e.Path("auth", "session.json")

	// A session as the Python CLI stores it: no server_url of ours (the
	// server comes from config.toml), an unknown field, a refresh token.
	now := time.Now().UTC()
	st := &session.Stored{
		UserID: "py-user", Email: "py@example.com", Name: "Py", DefaultTeamID: "team-p",
		Teams:       []session.Team{{ID: "team-p", Name: "P", Role: "owner", IsPrivateTeamspace: true}},
		AccessToken: "py-access", RefreshToken: "py-refresh", SessionID: "py-session",
		IssuedAt: now, AccessExpires: now.Add(time.Hour), Scope: "offline_access",
		StorageBackend: "file", LastUsedAt: now, AuthMethod: "authorization_code",
	}
	if err := session.Save(sessionFile, st); err != nil {
		t.Fatal(err)
	}
	names = append(names, "auth/session.json", "auth/session.salt")
	before := snapshot(t, e, names)

	for _, args := range [][]string{{"auth", "status"}, {"auth", "status", "--json"}, {"auth", "doctor", "--json"}} {
		r := e.Run(args...)
		if r.Code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.Code, r.Stderr)
		}
		if strings.Contains(r.Stdout, "py-access") || strings.Contains(r.Stdout, "py-refresh") {
			t.Fatalf("%v printed a token: %s", args, r.Stdout)
		}
		requireSame(t, strings.Join(args, " "), before, snapshot(t, e, names))
	}
	var status struct {
		LoggedIn  bool    `json:"logged_in"`
		ServerURL string  `json:"server_url"`
		Principal string  `json:"auth_principal"`
		Team      string  `json:"auth_team"`
		Expires   *string `json:"access_token_expires_at"`
	}
	e.MustJSON(&status, "auth", "status", "--json")
	if !status.LoggedIn || status.ServerURL != srv.URL || status.Principal != "py@example.com" || status.Team != "team-p" || status.Expires == nil {
		t.Fatalf("auth status --json = %+v", status)
	}

	// Logout: revoked at the server, session and salt gone, the rest intact.
	if r := e.Run("auth", "logout"); r.Code != 0 || r.Stdout != "logged out\n" {
		t.Fatalf("logout: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	if len(srv.revoked) != 1 || srv.revoked[0] != "py-refresh" {
		t.Errorf("revoked %v, want the refresh token", srv.revoked)
	}
	for _, n := range []string{"session.json", "session.salt"} {
		if _, err := os.Lstat(e.Path("auth", n)); !os.IsNotExist(err) {
			t.Errorf("auth/%s survived logout: %v", n, err)
		}
	}
	names = names[:len(names)-2]
	delete(before, "auth/session.json")
	delete(before, "auth/session.salt")
	requireSame(t, "auth logout", before, snapshot(t, e, names))
	if r := e.Run("auth", "status"); r.Stdout != "not logged in\n" {
		t.Fatalf("status after logout: %q", r.Stdout)
	}

	// Device login, the server taken from config.toml as upstream does.
	r := e.Run("auth", "login", "--headless")
	if r.Code != 0 || !strings.Contains(r.Stderr, "WXYZ-9876") {
		t.Fatalf("login --headless: %d %q %s", r.Code, r.Stdout, r.Stderr)
	}
	requireSame(t, "auth login --headless", before, snapshot(t, e, names))
	got, err := session.ReadStored(sessionFile)
	if err != nil || got == nil || got.AccessToken != "dev-access" || got.RefreshToken != "dev-refresh" || got.AuthMethod != "device_code" || got.TeamSlug() != "tp" {
		t.Fatalf("stored after device login: %+v, %v", got, err)
	}
	if fi, err := os.Stat(sessionFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file mode: %v %v", fi.Mode(), err)
	}

	// A CI token login over it is refused without --force, and replaces it
	// with; the Python files are still untouched.
	stored := snapshot(t, e, []string{"auth/session.json", "auth/session.salt"})
	r = e.RunWith(nil, "ci-token\n", "auth", "login", "--with-token", "--server", srv.URL, "--email", "ci@example.com", "--team", "ci-team")
	if r.Code != 1 || !strings.Contains(r.Stderr, "--force") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("login --with-token over a session: %d %q %q, want exit 1 and one line naming --force", r.Code, r.Stdout, r.Stderr)
	}
	requireSame(t, "refused auth login --with-token", stored, snapshot(t, e, []string{"auth/session.json", "auth/session.salt"}))
	r = e.RunWith(nil, "ci-token\n", "auth", "login", "--with-token", "--force", "--server", srv.URL, "--email", "ci@example.com", "--team", "ci-team")
	if r.Code != 0 {
		t.Fatalf("login --with-token: %d %s", r.Code, r.Stderr)
	}
	requireSame(t, "auth login --with-token", before, snapshot(t, e, names))
	e.MustJSON(&status, "auth", "status", "--json")
	if status.Principal != "ci@example.com" || status.Team != "ci-team" {
		t.Fatalf("status after token login: %+v", status)
	}
	if r := e.Run("auth", "logout"); r.Code != 0 {
		t.Fatalf("logout: %d %s", r.Code, r.Stderr)
	}
	requireSame(t, "auth logout (token session)", before, snapshot(t, e, names))
}

// TestDaemonHealthReadsTheSharedSession: the daemon's health owner fields
// come from the session in the Python CLI's format, with the team events
// are sent for (the Private Teamspace), and follow a login made by another
// process without a restart.
func TestDaemonHealthReadsTheSharedSession(t *testing.T) {
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_SAAS_URL"] = "https://py-server.example.com"
	now := time.Now().UTC()
	st := &session.Stored{
		UserID: "py-user", Email: "py@example.com", Name: "Py", DefaultTeamID: "shared",
		Teams:       []session.Team{{ID: "shared", Name: "S", Role: "member"}, {ID: "private-1", Name: "P", Role: "owner", IsPrivateTeamspace: true}},
		AccessToken: "py-access", RefreshToken: "py-refresh", SessionID: "py-session",
		IssuedAt: now, AccessExpires: now.Add(time.Hour), Scope: "offline_access",
		StorageBackend: "file", LastUsedAt: now, AuthMethod: "device_code",
	}
	if err := session.Save(e.Path("auth", "session.json"), st); err != nil {
		t.Fatal(err)
	}
	if r := e.Run("sync", "start"); r.Code != 0 {
		t.Fatalf("sync start: %d %s", r.Code, r.Stderr)
	}
	c := client.New(recorded(t, e).Port)
	owner := func() api.Owner {
		h, err := c.Health(context.Background())
		if err != nil || h.Owner == nil {
			t.Fatalf("health: %v %+v", err, h)
		}
		return *h.Owner
	}
	o := owner()
	if o.ServerURL == nil || *o.ServerURL != "https://py-server.example.com" || o.AuthPrincipal == nil || *o.AuthPrincipal != "py@example.com" ||
		o.AuthTeam == nil || *o.AuthTeam != "private-1" || o.AuthScope == nil || *o.AuthScope != "https://py-server.example.com|py@example.com|private-1" {
		t.Fatalf("owner = %+v", o)
	}
	b, _ := json.Marshal(o)
	if strings.Contains(string(b), "py-access") || strings.Contains(string(b), "py-refresh") {
		t.Fatalf("health reveals a token: %s", b)
	}
	// Another process logs in as someone else: the next answer says so.
	st.Email, st.AccessToken = "other@example.com", "other-access"
	if err := session.Save(e.Path("auth", "session.json"), st); err != nil {
		t.Fatal(err)
	}
	if o := owner(); o.AuthPrincipal == nil || *o.AuthPrincipal != "other@example.com" {
		t.Fatalf("after another login: %+v", o)
	}
}
