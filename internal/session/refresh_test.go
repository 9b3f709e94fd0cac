package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer follows upstream's /oauth/token refresh contract: it rotates
// the refresh token on every refresh and answers invalid_grant to a refresh
// token it has already rotated away, as the hosted server does.
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	current  string // the refresh token it accepts
	n        int
	requests atomic.Int32
	reject   bool // answer invalid_grant to everything
	forms    []map[string]string
	onToken  func() // runs when a token request arrives, before the answer
}

func newTokenServer(t *testing.T, refresh string) *tokenServer {
	ts := &tokenServer{current: refresh}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/me" && r.Header.Get("Authorization") == "Bearer access-2" {
			fmt.Fprint(w, `{"user_id":"u-42","email":"py@example.com","teams":[{"id":"team-shared","name":"Shared","role":"member"},{"id":"new-private","name":"Mine","role":"owner","is_private_teamspace":true}]}`)
			return
		}
		if r.URL.Path != "/oauth/token" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		ts.requests.Add(1)
		if ts.onToken != nil {
			ts.onToken()
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.forms = append(ts.forms, map[string]string{
			"grant_type": r.PostForm.Get("grant_type"), "refresh_token": r.PostForm.Get("refresh_token"), "client_id": r.PostForm.Get("client_id"),
		})
		w.Header().Set("Content-Type", "application/json")
		if ts.reject || r.PostForm.Get("refresh_token") != ts.current {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		ts.n++
		ts.current = fmt.Sprintf("refresh-%d", ts.n+1)
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprintf("access-%d", ts.n+1), "refresh_token": ts.current,
			"expires_in": 3600, "refresh_token_expires_in": 86400, "generation": ts.n + 3,
		})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// expiredFixture installs the Python fixture (whose access token expired on
// 2026-01-01) with the test server as the configured server.
func expiredFixture(t *testing.T, ts *tokenServer) string {
	useFixtureKey(t, 1<<10)
	t.Setenv(EnvServerURL, ts.URL)
	return installFixture(t, "python-n1024")
}

// freshFixture is the fixture with an access token valid for an hour.
func freshFixture(t *testing.T, ts *tokenServer) string {
	path := expiredFixture(t, ts)
	st, err := ReadStored(path)
	if err != nil {
		t.Fatal(err)
	}
	st.AccessExpires = time.Now().Add(time.Hour)
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestExpiredSessionIsRefreshedAndWrittenBack: the Python-written session is
// read, refreshed with upstream's grant, and written back in the same
// format with every field it did not change — unknown ones included.
func TestExpiredSessionIsRefreshedAndWrittenBack(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := expiredFixture(t, ts)
	before := plaintext(t, path)

	c, err := newFileProvider(path, ts.Client()).Credentials(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{ServerURL: ts.URL, AccessToken: "access-2", Team: "team-private", Principal: "py@example.com"}
	if c != want {
		t.Fatalf("Credentials = %+v, want %+v", c, want)
	}
	if got := ts.forms[0]; !reflect.DeepEqual(got, map[string]string{"grant_type": "refresh_token", "refresh_token": "py-refresh-1", "client_id": "cli_native"}) {
		t.Errorf("refresh request = %v", got)
	}
	after := plaintext(t, path)
	if after["access_token"] != "access-2" || after["refresh_token"] != "refresh-2" || after["generation"] != float64(4) {
		t.Errorf("refreshed fields: %v", after)
	}
	exp, err := parseISO(after["access_token_expires_at"].(string))
	if err != nil || exp.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("access_token_expires_at = %v, %v", after["access_token_expires_at"], err)
	}
	for _, k := range []string{"future_field", "teams", "user_id", "email", "name", "session_id", "default_team_id", "scope", "storage_backend", "auth_method"} {
		if !reflect.DeepEqual(before[k], after[k]) {
			t.Errorf("%s changed: %v -> %v", k, before[k], after[k])
		}
	}
	if _, ok := after[keyServerURL]; ok {
		t.Error("a refresh added server_url to a Python session")
	}
	// The lock record is cleared once the refresh is done.
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), refreshName)); err != nil || len(b) != 0 {
		t.Errorf("refresh.lock after the refresh: %q, %v", b, err)
	}
}

// TestA401RefreshesExactlyOnce: the uploader's Refresh after a 401
// refreshes once; a second Refresh for the same rejected token (another
// batch that raced) adopts the stored token instead of refreshing again.
func TestA401RefreshesExactlyOnce(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := freshFixture(t, ts)
	p := newFileProvider(path, ts.Client())
	c, err := p.Credentials(context.Background())
	if err != nil || c.AccessToken != "py-access-1" || ts.requests.Load() != 0 {
		t.Fatalf("a valid token is used as is: %+v %v (%d refreshes)", c, err, ts.requests.Load())
	}
	c1, err := p.Refresh(context.Background(), "py-access-1")
	if err != nil || c1.AccessToken != "access-2" {
		t.Fatalf("Refresh = %+v, %v", c1, err)
	}
	c2, err := p.Refresh(context.Background(), "py-access-1")
	if err != nil || c2.AccessToken != "access-2" {
		t.Fatalf("second Refresh = %+v, %v", c2, err)
	}
	if n := ts.requests.Load(); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

// TestConcurrentRefreshersRefreshOnce: many providers (as separate
// processes would) find the token expired at once; refresh.lock makes one
// of them refresh and the others adopt its result.
func TestConcurrentRefreshersRefreshOnce(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := expiredFixture(t, ts)
	const n = 8
	var wg sync.WaitGroup
	got := make([]Credentials, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = newFileProvider(path, ts.Client()).Credentials(context.Background())
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i].AccessToken != "access-2" {
			t.Errorf("provider %d: %+v, %v", i, got[i], errs[i])
		}
	}
	if r := ts.requests.Load(); r != 1 {
		t.Fatalf("%d token requests, want exactly 1", r)
	}
}

// TestRefreshWaitsForAnotherHolderAndAdoptsItsResult: while another
// process (here: the test, as the Python CLI would) holds refresh.lock and
// stores a refreshed session, a refresh waits, re-reads under the lock and
// uses that session without a token request.
func TestRefreshWaitsForAnotherHolderAndAdoptsItsResult(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := expiredFixture(t, ts)
	store := storeFor(path)
	held, err := acquire(context.Background(), store.RefreshLockPath(), time.Second, machineLockPoll)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   Credentials
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Refresh always takes the lock, whenever this goroutine runs.
		c, err := newFileProvider(path, ts.Client()).Refresh(context.Background(), "py-access-1")
		done <- result{c, err}
	}()
	// The other process's refresh: new tokens stored under its lock.
	st, err := store.Read()
	if err != nil {
		t.Fatal(err)
	}
	st.AccessToken, st.RefreshToken, st.AccessExpires = "by-python", "python-refresh", time.Now().Add(time.Hour)
	if err := store.Write(st); err != nil {
		t.Fatal(err)
	}
	unlock(held)
	held.Close()
	r := <-done
	if r.err != nil || r.c.AccessToken != "by-python" {
		t.Fatalf("Credentials = %+v, %v; want the other process's token", r.c, r.err)
	}
	if n := ts.requests.Load(); n != 0 {
		t.Fatalf("%d token requests, want 0", n)
	}
}

// TestRejectedRefreshClearsOnlyTheCurrentSession: invalid_grant against the
// stored refresh token logs out (upstream's rule); the uploader sees
// ErrNotLoggedIn.
func TestRejectedRefreshClearsOnlyTheCurrentSession(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	ts.reject = true
	path := expiredFixture(t, ts)
	_, err := newFileProvider(path, ts.Client()).Credentials(context.Background())
	if !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("Credentials = %v, want ErrNotLoggedIn", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected current session was kept: %v", err)
	}
}

// TestServerDownKeepsTheSession: a refresh that cannot reach the server is
// retryable and leaves the session as it was.
func TestServerDownKeepsTheSession(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := expiredFixture(t, ts)
	before, _ := os.ReadFile(path)
	ts.Close()
	_, err := newFileProvider(path, http.DefaultClient).Credentials(context.Background())
	if !errors.Is(err, ErrRefreshRetry) || errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("Credentials = %v, want ErrRefreshRetry", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed refresh changed the session file")
	}
}

func TestNoSessionIsNotLoggedIn(t *testing.T) {
	p := newFileProvider(filepath.Join(t.TempDir(), "auth", credName), http.DefaultClient)
	if _, err := p.Credentials(context.Background()); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Credentials = %v", err)
	}
	if _, err := p.Refresh(context.Background(), "x"); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("Refresh = %v", err)
	}
}

// TestLockRecordWhileHeld: refresh.lock carries upstream's holder record
// while a refresh holds it.
func TestLockRecordWhileHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), refreshName)
	err := withMachineLock(context.Background(), path, time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rec map[string]any
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("record %q: %w", b, err)
		}
		if rec["pid"] != float64(os.Getpid()) || rec["schema_version"] != float64(1) || rec["host"] == "" {
			return fmt.Errorf("record %v", rec)
		}
		if _, err := parseISO(rec["started_at"].(string)); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRefreshAdoptsANewPrivateTeamspace: a session stored without a Private
// Teamspace learns it from /api/v1/me after a refresh, as upstream does.
func TestRefreshAdoptsANewPrivateTeamspace(t *testing.T) {
	ts := newTokenServer(t, "py-refresh-1")
	path := expiredFixture(t, ts)
	st, err := ReadStored(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Teams, st.DefaultTeamID = st.Teams[:1], "team-shared"
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	c, err := newFileProvider(path, ts.Client()).Credentials(context.Background())
	if err != nil || c.Team != "new-private" {
		t.Fatalf("Credentials = %+v, %v; want the new Private Teamspace", c, err)
	}
	if got := plaintext(t, path)["default_team_id"]; got != "new-private" {
		t.Errorf("default_team_id = %v", got)
	}
}
