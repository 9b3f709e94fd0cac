//go:build linux

package live

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// oneLine reports whether s is exactly one non-empty line.
func oneLine(s string) bool {
	s = strings.TrimSuffix(s, "\n")
	return s != "" && !strings.Contains(s, "\n")
}

// TestUnreadableSessionHasAWayOut: for a salt of the wrong size, garbage
// ciphertext and a session file of the wrong mode, plain logout fails with
// one line naming `auth logout --force`, the doctor's finding names that
// command, and `auth logout --force` removes exactly the session files,
// says so, exits 0, after which a login works.
func TestUnreadableSessionHasAWayOut(t *testing.T) {
	damages := map[string]func(e *testenv.Env){
		"salt of the wrong size": func(e *testenv.Env) {
			mustWrite(t, e.Path("auth", "session.salt"), "short", 0o600)
		},
		"garbage ciphertext": func(e *testenv.Env) {
			mustWrite(t, e.Path("auth", "session.json"), `{"version": 2, "nonce": "000000000000000000000000", "ciphertext": "deadbeef"}`, 0o600)
		},
		"wrong mode": func(e *testenv.Env) {
			if err := os.Chmod(e.Path("auth", "session.json"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			e := testenv.New(t)
			now := time.Now().UTC()
			st := &session.Stored{
				UserID: "u", Email: "u@example.com", Name: "U", DefaultTeamID: "t", Teams: []session.Team{{ID: "t", Name: "T", Role: "owner"}},
				AccessToken: "tok", IssuedAt: now, AccessExpires: now.Add(time.Hour), Scope: "offline_access",
				StorageBackend: "file", LastUsedAt: now, AuthMethod: "token", ServerURL: "https://sk.example.com",
			}
			if err := session.Save(e.Path("auth", "session.json"), st); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, e.Path("auth", "session.hot-path.json"), `{"schema_version": 1}`, 0o600)
			keep := pythonFiles(t, e, "https://sk.example.com")
			before := snapshot(t, e, keep)
			damage(e)

			if r := e.Run("auth", "logout"); r.Code != 1 || !oneLine(r.Stderr) || !strings.Contains(r.Stderr, "spec-kitty auth logout --force") {
				t.Fatalf("logout: %d %q, want exit 1 and one line naming spec-kitty auth logout --force", r.Code, r.Stderr)
			}
			var rep api.DoctorReport
			e.MustJSON(&rep, "auth", "doctor", "--json")
			found := false
			for _, f := range rep.Findings {
				if f.ID == "session_unreadable" {
					found = true
					if f.Remediation.Command != "spec-kitty auth logout --force" {
						t.Errorf("session_unreadable remediation %q", f.Remediation.Command)
					}
				}
			}
			if !found {
				t.Fatalf("no session_unreadable finding: %+v", rep.Findings)
			}

			r := e.Run("auth", "logout", "--force")
			if r.Code != 0 {
				t.Fatalf("logout --force: %d %q %q", r.Code, r.Stdout, r.Stderr)
			}
			for _, n := range []string{"session.json", "session.salt", "session.hot-path.json"} {
				if !strings.Contains(r.Stdout, "removed "+e.Path("auth", n)+"\n") {
					t.Errorf("logout --force does not say it removed %s: %q", n, r.Stdout)
				}
				if _, err := os.Lstat(e.Path("auth", n)); !os.IsNotExist(err) {
					t.Errorf("auth/%s survived logout --force: %v", n, err)
				}
			}
			requireSame(t, "logout --force", before, snapshot(t, e, keep))
			if r := e.RunWith(nil, "new-token\n", "auth", "login", "--with-token", "--server", "https://sk.example.com", "--email", "new@example.com"); r.Code != 0 {
				t.Fatalf("login after logout --force: %d %q", r.Code, r.Stderr)
			}
			if got, err := session.ReadStored(e.Path("auth", "session.json")); err != nil || got == nil || got.Email != "new@example.com" {
				t.Fatalf("after the new login: %+v, %v", got, err)
			}
		})
	}
}

// TestLoginReplacesAnUnreadableSession: a login — with or without
// --force — over a session that cannot be read replaces it, as upstream's
// does (it refuses only a usable one), saying so on stderr; the session
// it writes is readable.
func TestLoginReplacesAnUnreadableSession(t *testing.T) {
	for _, force := range []bool{false, true} {
		e := testenv.New(t)
		mustWrite(t, e.Path("auth", "session.json"), `{"version": 2, "nonce": "00", "ciphertext": "00"}`, 0o600)
		mustWrite(t, e.Path("auth", "session.salt"), "wrong size", 0o600)
		args := []string{"auth", "login", "--with-token", "--server", "https://sk.example.com", "--email", "f@example.com"}
		if force {
			args = append(args, "--force")
		}
		r := e.RunWith(nil, "tok\n", args...)
		if r.Code != 0 {
			t.Fatalf("%v: %d %q", args, r.Code, r.Stderr)
		}
		if !force && !strings.Contains(r.Stderr, "cannot be read") {
			t.Errorf("%v replaced an unreadable session without saying so: %q", args, r.Stderr)
		}
		if got, err := session.ReadStored(e.Path("auth", "session.json")); err != nil || got == nil || got.Email != "f@example.com" {
			t.Fatalf("after %v: %+v, %v", args, got, err)
		}
	}
}

func mustWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
