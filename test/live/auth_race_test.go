//go:build linux

package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// Each race runs raceRounds rounds, or as many as fit in raceBudget but
// never fewer than minRaceRounds: the unguarded salt write lost about one
// round in three, so even the minimum leaves no room for luck, and a loaded
// machine (scrypt costs every process tens of milliseconds) does not turn
// the test into minutes.
const (
	raceRounds    = 200
	minRaceRounds = 40
	raceBudget    = 45 * time.Second
)

// raceRound reports whether round i of a race that began at start runs.
func raceRound(i int, start time.Time) bool {
	return i < raceRounds && (i < minRaceRounds || time.Since(start) < raceBudget)
}

// cleanBrokenSession removes what a broken round left: through logout
// --force, which must be able to, or by hand when it cannot (the code
// before the fix), so the count covers every round.
func cleanBrokenSession(t *testing.T, e *testenv.Env, round int) string {
	t.Helper()
	r := e.Run("auth", "logout", "--force")
	if r.Code == 0 {
		return ""
	}
	for _, n := range []string{"session.json", "session.salt"} {
		if err := os.Remove(e.Path("auth", n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	return fmt.Sprintf("; logout --force failed on it: %d %s", r.Code, strings.TrimSpace(r.Stderr))
}

// sessionOutcome says what a race left in auth/: "logged out" (no
// session.json), "logged in" (a session Go decrypts from the files in the
// Python CLI's format), or a description of the broken state.
func sessionOutcome(e *testenv.Env) (string, *session.Stored) {
	sessionFile := e.Path("auth", "session.json")
	if _, err := os.Lstat(sessionFile); errors.Is(err, os.ErrNotExist) {
		return "logged out", nil
	}
	st, err := session.ReadStored(sessionFile)
	if err != nil {
		return "unreadable: " + err.Error(), nil
	}
	if st == nil {
		return "logged out", nil
	}
	// The file is exactly what the Python CLI's v2 storage reads: one JSON
	// object with version 2, hex nonce and ciphertext, and a 16-byte salt.
	raw, err := os.ReadFile(sessionFile)
	if err != nil {
		return "unreadable: " + err.Error(), nil
	}
	var blob map[string]any
	if err := json.Unmarshal(raw, &blob); err != nil || blob["version"] != float64(2) || len(blob) != 3 {
		return fmt.Sprintf("not the Python CLI's format: %s", raw), nil
	}
	if salt, err := os.ReadFile(e.Path("auth", "session.salt")); err != nil || len(salt) != 16 {
		return fmt.Sprintf("salt: %d bytes, %v", len(salt), err), nil
	}
	return "logged in", st
}

// TestLoginLogoutRaceLeavesAReadableSession races `auth login --with-token
// --force` against `auth logout --force`, both real processes started
// together, and requires every round to end logged in with a session both
// CLIs read, or logged out — never with a session encrypted under a salt
// that the logout removed.
func TestLoginLogoutRaceLeavesAReadableSession(t *testing.T) {
	e := testenv.New(t)
	counts := map[string]int{}
	var broken []string
	start := time.Now()
	i := 0
	for ; raceRound(i, start); i++ {
		// Half the rounds start logged in, half logged out: the two ways the
		// salt can be read before the other process removes it.
		if i%2 == 0 {
			if r := e.Run("auth", "logout", "--force"); r.Code != 0 {
				t.Fatalf("round %d: logout before the race: %d %s", i, r.Code, r.Stderr)
			}
		}
		var login, logout testenv.Result
		var wg sync.WaitGroup
		wg.Add(2)
		email := fmt.Sprintf("ci-%d@example.com", i)
		go func() {
			defer wg.Done()
			login = e.RunWith(nil, "ci-token\n", "auth", "login", "--with-token", "--force",
				"--server", "https://sk.example.com", "--email", email, "--team", "ci")
		}()
		go func() {
			defer wg.Done()
			logout = e.Run("auth", "logout", "--force")
		}()
		wg.Wait()
		if login.Code != 0 || logout.Code != 0 {
			t.Fatalf("round %d: login %d %q, logout %d %q", i, login.Code, login.Stderr, logout.Code, logout.Stderr)
		}
		outcome, st := sessionOutcome(e)
		if outcome == "logged in" && st.Email != email {
			outcome = "logged in as " + st.Email + ", a previous round's user"
		}
		counts[outcome]++
		if outcome != "logged in" && outcome != "logged out" {
			broken = append(broken, fmt.Sprintf("round %d: %s%s", i, outcome, cleanBrokenSession(t, e, i)))
		}
	}
	t.Logf("%d rounds in %v: %v", i, time.Since(start).Round(time.Millisecond), counts)
	if len(broken) > 0 {
		t.Fatalf("%d of %d rounds left a broken login:\n%s", len(broken), i, strings.Join(broken, "\n"))
	}
}

// TestRefreshLogoutRaceNeverResurrects races a token refresh — run by the
// session package's provider in this process, exactly as the daemon runs
// it, against a token server on loopback — with `auth logout --force` of the
// real binary. Logout always finishes, so every round must end logged out:
// a refresh that read the session before the logout must not write it (or
// its salt) back afterwards.
func TestRefreshLogoutRaceNeverResurrects(t *testing.T) {
	e := testenv.New(t)
	sessionFile := e.Path("auth", "session.json")
	var issued atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" {
			http.NotFound(w, r)
			return
		}
		n := issued.Add(1)
		// Every other answer waits until the logout has removed the session
		// (the refresh then writes after it, deterministically); the others
		// come after 0–120 ms, so the logout lands anywhere around the write.
		if n%2 == 0 {
			waitGone(sessionFile, 3*time.Second)
		} else {
			time.Sleep(time.Duration(n%7) * 20 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprintf("access-%d", n), "refresh_token": fmt.Sprintf("refresh-%d", n),
			"token_type": "Bearer", "expires_in": 3600,
		})
	}))
	t.Cleanup(srv.Close)
	layout := paths.Layout{Root: e.Home}
	// A fixed salt keeps the key of the seeded session in this process's
	// cache, so a round costs the race, not a key derivation.
	salt := []byte("0123456789abcdef")
	counts := map[string]int{}
	var broken []string
	start := time.Now()
	i := 0
	for ; raceRound(i, start); i++ {
		if err := os.MkdirAll(e.Path("auth"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.Path("auth", "session.salt"), salt, 0o600); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		expired := &session.Stored{
			UserID: "u", Email: "u@example.com", Name: "U", DefaultTeamID: "t",
			Teams:       []session.Team{{ID: "t", Name: "T", Role: "owner", IsPrivateTeamspace: true}},
			AccessToken: "stale", RefreshToken: fmt.Sprintf("seed-%d", i), SessionID: "s",
			IssuedAt: now.Add(-2 * time.Hour), AccessExpires: now.Add(-time.Hour), Scope: "offline_access",
			StorageBackend: "file", LastUsedAt: now, AuthMethod: "authorization_code", ServerURL: srv.URL,
		}
		if err := session.Save(sessionFile, expired); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		var logout testenv.Result
		var refreshErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			logout = e.Run("auth", "logout", "--force")
		}()
		go func() {
			defer wg.Done()
			_, refreshErr = session.NewProvider(layout).Credentials(context.Background())
		}()
		wg.Wait()
		if logout.Code != 0 {
			t.Fatalf("round %d: logout %d %q", i, logout.Code, logout.Stderr)
		}
		if refreshErr != nil && !errors.Is(refreshErr, session.ErrNotLoggedIn) && !errors.Is(refreshErr, session.ErrRefreshRetry) {
			t.Fatalf("round %d: refresh: %v", i, refreshErr)
		}
		outcome, _ := sessionOutcome(e)
		if outcome == "logged in" {
			outcome = "logged in again by the refresh after the logout"
		}
		if _, err := os.Lstat(e.Path("auth", "session.salt")); err == nil && outcome == "logged out" {
			outcome = "logged out, but a salt was written back"
		}
		counts[outcome]++
		if outcome != "logged out" {
			broken = append(broken, fmt.Sprintf("round %d: %s%s", i, outcome, cleanBrokenSession(t, e, i)))
		}
	}
	t.Logf("%d rounds in %v, %d refreshes: %v", i, time.Since(start).Round(time.Millisecond), issued.Load(), counts)
	if len(broken) > 0 {
		t.Fatalf("%d of %d rounds did not end logged out:\n%s", len(broken), i, strings.Join(broken, "\n"))
	}
}

// waitGone waits until path does not exist, at most limit.
func waitGone(path string, limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
	}
}
