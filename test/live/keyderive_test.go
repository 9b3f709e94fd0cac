//go:build linux

package live

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// derivations runs the CLI with the key-derivation debug line on and
// returns how many key derivations it reported, and its result.
func derivations(t *testing.T, e *testenv.Env, vars map[string]string, args ...string) (int, testenv.Result) {
	t.Helper()
	all := map[string]string{session.EnvDebugKeys: "1"}
	for k, v := range vars {
		all[k] = v
	}
	r := e.RunWith(all, "", args...)
	if r.Code != 0 {
		t.Fatalf("%v: exit %d: %s", args, r.Code, r.Stderr)
	}
	return strings.Count(r.Stderr, "derived the session key"), r
}

// doctorPrincipal runs auth doctor --json and returns the principal it
// reports and how many keys it derived.
func doctorPrincipal(t *testing.T, e *testenv.Env, vars map[string]string) (string, int) {
	t.Helper()
	n, r := derivations(t, e, vars, "auth", "doctor", "--json")
	var rep api.DoctorReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r.Stdout)
	}
	if !rep.Session.Present || rep.Session.AuthPrincipal == nil {
		t.Fatalf("doctor session %+v", rep.Session)
	}
	return *rep.Session.AuthPrincipal, n
}

// TestReportingTheLoginDerivesNoKey: a logged-in `auth doctor` and `auth
// status` take who is logged in from the healthy daemon's summary, or from
// a fresh hot-path file, and derive the scrypt key only when neither is
// there (SPEC §3 "The login is read cheaply").
func TestReportingTheLoginDerivesNoKey(t *testing.T) {
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_SAAS_URL"] = "https://sk.example.com"
	noHotPath := map[string]string{session.EnvDisableHotPath: "1"}
	sessionFile := e.Path("auth", "session.json")
	now := time.Now().UTC()
	st := &session.Stored{
		UserID: "u-1", Email: "first@example.com", Name: "First", DefaultTeamID: "team-a",
		Teams:       []session.Team{{ID: "team-a", Name: "A", Role: "owner", IsPrivateTeamspace: true}},
		AccessToken: "tok-access", RefreshToken: "tok-refresh", SessionID: "s",
		IssuedAt: now, AccessExpires: now.Add(time.Hour), Scope: "offline_access",
		StorageBackend: "file", LastUsedAt: now, AuthMethod: "device_code",
	}
	if err := session.Save(sessionFile, st); err != nil {
		t.Fatal(err)
	}
	if r := e.Run("sync", "start"); r.Code != 0 {
		t.Fatalf("sync start: %d %s", r.Code, r.Stderr)
	}

	// A healthy daemon, no hot-path file: the daemon's summary answers.
	if who, n := doctorPrincipal(t, e, noHotPath); who != "first@example.com" || n != 0 {
		t.Fatalf("doctor with a healthy daemon: principal %q, %d key derivation(s), want 0", who, n)
	}
	n, r := derivations(t, e, noHotPath, "auth", "status", "--json")
	if n != 0 || !strings.Contains(r.Stdout, `"first@example.com"`) || strings.Contains(r.Stdout, "tok-") {
		t.Fatalf("auth status with a healthy daemon: %d derivation(s): %s", n, r.Stdout)
	}

	// Another login: the daemon re-reads the changed file, and the doctor
	// still derives nothing and names the new user.
	st.Email = "second@example.com"
	t.Setenv(session.EnvDisableHotPath, "1") // this process's Save writes none
	if err := session.Save(sessionFile, st); err != nil {
		t.Fatal(err)
	}
	if who, n := doctorPrincipal(t, e, noHotPath); who != "second@example.com" || n != 0 {
		t.Fatalf("doctor after another login: principal %q, %d key derivation(s), want 0", who, n)
	}

	// No daemon and no hot-path file: nothing fresher, so the key is
	// derived — once — which proves the count counts.
	if r := e.Run("sync", "stop"); r.Code != 0 {
		t.Fatalf("sync stop: %d %s", r.Code, r.Stderr)
	}
	// (The daemon and this test's first Save published one; it is stale.)
	if err := os.Remove(e.Path("auth", "session.hot-path.json")); err != nil {
		t.Fatal(err)
	}
	if who, n := doctorPrincipal(t, e, noHotPath); who != "second@example.com" || n != 1 {
		t.Fatalf("doctor with nothing fresher: principal %q, %d key derivation(s), want 1", who, n)
	}
	if _, err := os.Lstat(e.Path("auth", "session.hot-path.json")); !os.IsNotExist(err) {
		t.Fatalf("hot-path file written although disabled: %v", err)
	}

	// No daemon: the first doctor decrypts and publishes the hot-path file,
	// the next one within 30 s reads it and derives nothing.
	if _, n := doctorPrincipal(t, e, nil); n != 1 {
		t.Fatalf("first doctor without a hot-path file: %d derivation(s), want 1", n)
	}
	if fi, err := os.Stat(e.Path("auth", "session.hot-path.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("hot-path file: %v, %v", fi, err)
	}
	if who, n := doctorPrincipal(t, e, nil); who != "second@example.com" || n != 0 {
		t.Fatalf("doctor with a fresh hot-path file: principal %q, %d key derivation(s), want 0", who, n)
	}

	// Logout removes it with the session.
	if r := e.Run("auth", "logout", "--force"); r.Code != 0 {
		t.Fatalf("logout: %d %s", r.Code, r.Stderr)
	}
	if _, err := os.Lstat(e.Path("auth", "session.hot-path.json")); !os.IsNotExist(err) {
		t.Fatalf("hot-path file survived logout: %v", err)
	}
}
