//go:build linux

package live

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/batchtest"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The end-to-end tests join the two halves of the sync work that were
// built apart: the login in the Python CLI's encrypted format and its
// refresh (internal/session), and the daemon's batch upload
// (internal/uploader). One server plays the hosted spec-kitty server: the
// batch endpoint of the contract (batchtest, which validates every envelope
// against the spec-kitty-events schemas and counts deliveries) and the
// OAuth token endpoint that rotates the refresh token.

const (
	e2eTeam    = "team-e2e"
	e2eEmail   = "py@example.com"
	e2eSession = "py-session-1"
)

// refreshCall is one refresh grant the token endpoint received, with what
// it saw of auth/refresh.lock while answering.
type refreshCall struct {
	RefreshToken string
	LockHeld     bool // another process held the flock on refresh.lock
	HolderPID    int  // the pid of the holder record written in it
}

// e2eServer is the hosted server: batch endpoint plus /oauth/token.
type e2eServer struct {
	*batchtest.Server
	home string

	mu        sync.Mutex
	refresh   string // the refresh token the server honours now
	issued    int    // tokens issued so far
	refreshes []refreshCall
	tokens    []string // bearer token of every request the script answered
	teams     map[string]bool
	reject    int // answer 401 to this many more valid requests
}

func newE2EServer(t *testing.T, e *testenv.Env, access, refresh string) *e2eServer {
	s := &e2eServer{home: e.Home, refresh: refresh, teams: map[string]bool{}}
	s.Server = batchtest.New(access, s.answer)
	s.HandleFunc("POST /oauth/token", s.token)
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("contract violation: %s", v)
		}
	})
	return s
}

// answer applies the contract, except that it answers 401 to the next
// s.reject requests, as a server does whose token was revoked early.
func (s *e2eServer) answer(req batchtest.Request) batchtest.Answer {
	s.mu.Lock()
	s.tokens = append(s.tokens, req.Token)
	for _, ev := range req.Events {
		team, _ := ev["team_slug"].(string)
		s.teams[team] = true
	}
	unauthorized := s.reject > 0
	if unauthorized {
		s.reject--
	}
	s.mu.Unlock()
	if unauthorized {
		return batchtest.Answer{Status: http.StatusUnauthorized, Body: map[string]string{"error": "Token expired or invalid"}}
	}
	return batchtest.Answer{}
}

// token is the refresh grant as upstream's server answers it: the refresh
// token rotates, and only the newest access token is accepted afterwards.
func (s *e2eServer) token(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	call := refreshCall{RefreshToken: r.PostForm.Get("refresh_token")}
	call.LockHeld, call.HolderPID = s.inspectRefreshLock()
	s.mu.Lock()
	s.refreshes = append(s.refreshes, call)
	ok := r.PostForm.Get("grant_type") == "refresh_token" && r.PostForm.Get("client_id") == "cli_native" &&
		call.RefreshToken == s.refresh
	var access string
	if ok {
		s.issued++
		access = fmt.Sprintf("access-%d", s.issued+1)
		s.refresh = fmt.Sprintf("refresh-%d", s.issued+1)
	}
	refresh := s.refresh
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	}
	s.SetToken(access)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
		"expires_in": 3600, "refresh_token_expires_in": 86400, "scope": "offline_access",
	})
}

// inspectRefreshLock reports whether another process holds the flock on
// auth/refresh.lock, and the pid its holder record names. It opens the
// file read-only and never creates it.
func (s *e2eServer) inspectRefreshLock() (held bool, pid int) {
	path := s.home + "/auth/refresh.lock"
	f, err := os.Open(path)
	if err != nil {
		return false, 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	} else if errors.Is(err, syscall.EWOULDBLOCK) {
		held = true
	}
	data, _ := os.ReadFile(path)
	var rec struct {
		PID int `json:"pid"`
	}
	_ = json.Unmarshal(data, &rec)
	return held, rec.PID
}

func (s *e2eServer) snapshot() (refreshes []refreshCall, tokens []string, teams []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.teams {
		teams = append(teams, t)
	}
	return append([]refreshCall(nil), s.refreshes...), append([]string(nil), s.tokens...), teams
}

// pythonSession stores a login the way the Python CLI does: its fields
// only (no server_url of ours: the server comes from config.toml), a
// refresh token, and the team events are sent for as the Private
// Teamspace. The Go writer is the session package's, at the production
// scrypt cost the daemon reads with.
func pythonSession(t *testing.T, e *testenv.Env, access, refresh string, accessExpires time.Time) {
	t.Helper()
	now := time.Now().UTC()
	st := &session.Stored{
		UserID: "py-user", Email: e2eEmail, Name: "Py", DefaultTeamID: "shared",
		Teams: []session.Team{
			{ID: "shared", Name: "Shared", Role: "member"},
			{ID: e2eTeam, Name: "Private", Role: "owner", IsPrivateTeamspace: true},
		},
		AccessToken: access, RefreshToken: refresh, SessionID: e2eSession,
		IssuedAt: now.Add(-time.Hour), AccessExpires: accessExpires, Scope: "offline_access",
		StorageBackend: "file", LastUsedAt: now.Add(-time.Hour), AuthMethod: "authorization_code",
	}
	if err := session.Save(e.Path("auth", "session.json"), st); err != nil {
		t.Fatal(err)
	}
}

// decryptPythonSession reads auth/session.json as the Python CLI does,
// independently of the session package: {"version": 2, "nonce",
// "ciphertext"} in hex, AES-256-GCM under scrypt(N=2^14, r=8, p=1) of
// "hostname:uid" and auth/session.salt.
func decryptPythonSession(t *testing.T, e *testenv.Env) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(e.Path("auth", "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	var blob struct {
		Version    int    `json:"version"`
		Nonce      string `json:"nonce"`
		Ciphertext string `json:"ciphertext"`
	}
	if err := json.Unmarshal(raw, &blob); err != nil || blob.Version != 2 {
		t.Fatalf("session.json is not the Python format (version %d, %v): %.80q", blob.Version, err, raw)
	}
	salt, err := os.ReadFile(e.Path("auth", "session.salt"))
	if err != nil || len(salt) != 16 {
		t.Fatalf("session.salt: %d bytes, %v", len(salt), err)
	}
	host, _ := os.Hostname()
	key, err := scrypt.Key([]byte(host+":"+strconv.Itoa(os.Getuid())), salt, 1<<14, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err1 := hex.DecodeString(blob.Nonce)
	ct, err2 := hex.DecodeString(blob.Ciphertext)
	block, err3 := aes.NewCipher(key)
	if err := errors.Join(err1, err2, err3); err != nil || len(nonce) != 12 {
		t.Fatalf("session.json fields: %v (nonce %d bytes)", err, len(nonce))
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		t.Fatalf("session.json does not decrypt as the Python CLI decrypts it: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(plain, &out); err != nil {
		t.Fatalf("decrypted session is not JSON: %v", err)
	}
	return out
}

// publishCLI queues event i with the real `sync publish` and returns its id.
func publishCLI(t *testing.T, e *testenv.Env, project string, i int) string {
	t.Helper()
	r := e.Run("sync", "publish", "--project", project, "--type", "ErrorLogged", "--aggregate-id", "e2e",
		"--aggregate-type", "Mission", "--payload", fmt.Sprintf(`{"error_type":"e2e","error_message":"event %d"}`, i))
	id := strings.TrimSpace(r.Stdout)
	if r.Code != 0 || len(id) != 26 {
		t.Fatalf("sync publish %d: exit %d, stdout %q, stderr %q", i, r.Code, r.Stdout, r.Stderr)
	}
	return id
}

// publishDelivered publishes n events with the real `sync publish` into a
// fresh project, waits until the server has all of them and checks each
// arrived once; it returns the pid of the daemon that sent them.
func publishDelivered(t *testing.T, e *testenv.Env, srv *e2eServer, n int) (daemon int) {
	t.Helper()
	project := newProjectDir(t)
	var ids []string
	for i := range n {
		ids = append(ids, publishCLI(t, e, project, i))
	}
	daemon = recorded(t, e).PID
	waitFor(t, 30*time.Second, "all events at the server", func() bool { return len(srv.Delivered()) == n })
	requireDeliveredOnce(t, srv.Server, ids)
	return daemon
}

// requireDeliveredOnce fails unless every id reached the server exactly
// once and nothing else did.
func requireDeliveredOnce(t *testing.T, srv *batchtest.Server, ids []string) {
	t.Helper()
	got := srv.Delivered()
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("server stored %d events, published %d", len(got), len(ids))
	}
	if srv.Validated() < len(ids) {
		t.Errorf("only %d envelopes were checked against the spec-kitty-events schemas, %d sent", srv.Validated(), len(ids))
	}
}

// requireRefreshedSession checks the session the daemon wrote back: the
// Python format, the rotated tokens, the rest of the login kept.
func requireRefreshedSession(t *testing.T, e *testenv.Env, access, refresh string) {
	t.Helper()
	fi, err := os.Stat(e.Path("auth", "session.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session.json after refresh: %v, mode %v", err, fi.Mode().Perm())
	}
	got := decryptPythonSession(t, e)
	if got["access_token"] != access || got["refresh_token"] != refresh {
		t.Fatalf("refreshed session holds access %v, refresh %v; want %s, %s", got["access_token"], got["refresh_token"], access, refresh)
	}
	if got["email"] != e2eEmail || got["session_id"] != e2eSession || got["default_team_id"] != "shared" ||
		got["auth_method"] != "authorization_code" || got["refresh_token_expires_at"] == nil {
		t.Fatalf("refresh lost part of the login: %v", got)
	}
	if exp, err := time.Parse(time.RFC3339, fmt.Sprint(got["access_token_expires_at"])); err != nil || time.Until(exp) < 30*time.Minute {
		t.Fatalf("access_token_expires_at %v after refresh (%v), want about an hour ahead", got["access_token_expires_at"], err)
	}
	if _, ok := got["server_url"]; ok {
		t.Errorf("the refresh added server_url to a session the Python CLI wrote without it")
	}
}

// requireOneRefreshByDaemon checks that the token endpoint was asked once,
// with the stored refresh token, by the daemon holding auth/refresh.lock.
func requireOneRefreshByDaemon(t *testing.T, refreshes []refreshCall, daemonPID int) {
	t.Helper()
	if len(refreshes) != 1 {
		t.Fatalf("token endpoint called %d times: %+v, want once", len(refreshes), refreshes)
	}
	c := refreshes[0]
	if c.RefreshToken != "refresh-1" || !c.LockHeld || c.HolderPID != daemonPID {
		t.Fatalf("refresh = %+v; want refresh-1 sent while daemon pid %d held auth/refresh.lock", c, daemonPID)
	}
}

// TestSyncE2E_401RefreshesAndRetries: events published with the real CLI
// are uploaded by the real daemon with the bearer token of a session in the
// Python CLI's format; the server answers the first batch 401; the daemon
// refreshes through the token endpoint under auth/refresh.lock, writes the
// rotated session back in the Python format, and the retried batch is
// accepted. Every event arrives once, valid against spec-kitty-events, with
// the session's team; the Python CLI's other files are byte-identical.
func TestSyncE2E_401RefreshesAndRetries(t *testing.T) {
	e := testenv.New(t)
	srv := newE2EServer(t, e, "access-1", "refresh-1")
	srv.reject = 1
	names := pythonFiles(t, e, srv.URL)
	pythonSession(t, e, "access-1", "refresh-1", time.Now().Add(time.Hour))
	before := snapshot(t, e, append(names, "auth/session.salt"))
	daemon := publishDelivered(t, e, srv, 5)
	refreshes, tokens, teams := srv.snapshot()
	requireOneRefreshByDaemon(t, refreshes, daemon)
	if len(tokens) < 2 || tokens[0] != "access-1" {
		t.Fatalf("bearer tokens of the answered requests: %v; want access-1 first (answered 401)", tokens)
	}
	for i, tok := range tokens[1:] {
		if tok != "access-2" {
			t.Errorf("request %d after the refresh carried %q, want access-2", i+2, tok)
		}
	}
	if srv.Requests() != len(tokens) {
		t.Errorf("%d requests, %d with a token the server knew: a batch went out with a stale token", srv.Requests(), len(tokens))
	}
	if len(teams) != 1 || teams[0] != e2eTeam {
		t.Errorf("team_slug of the uploaded events: %v, want the session's Private Teamspace %q", teams, e2eTeam)
	}
	requireRefreshedSession(t, e, "access-2", "refresh-2")
	requireSame(t, "the upload with a refresh", before, snapshot(t, e, append(names, "auth/session.salt")))

	var st api.StatusResult
	waitFor(t, 10*time.Second, "the queue to empty", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.QueueDepth == 0
	})
	if st.Sync.ConsecutiveFailures != 0 || st.Sync.Parked != 0 || st.Sync.LastError != nil {
		t.Fatalf("sync status after a recovered 401: %+v", st.Sync)
	}
}

// TestSyncE2E_ExpiredTokenRefreshedBeforeUpload: with an access token that
// has already expired, the daemon refreshes first (under the lock, by
// itself — the publishing CLI only reads the session) and no batch ever
// carries the expired token.
func TestSyncE2E_ExpiredTokenRefreshedBeforeUpload(t *testing.T) {
	e := testenv.New(t)
	// The server accepts no token until it issues one by refresh.
	srv := newE2EServer(t, e, "not-issued-yet", "refresh-1")
	names := pythonFiles(t, e, srv.URL)
	pythonSession(t, e, "access-1", "refresh-1", time.Now().Add(-time.Minute))
	before := snapshot(t, e, append(names, "auth/session.salt"))
	daemon := publishDelivered(t, e, srv, 3)
	refreshes, tokens, _ := srv.snapshot()
	requireOneRefreshByDaemon(t, refreshes, daemon)
	if srv.Requests() != len(tokens) {
		t.Fatalf("%d batch requests, %d accepted: the expired token was sent", srv.Requests(), len(tokens))
	}
	for _, tok := range tokens {
		if tok != "access-2" {
			t.Fatalf("a batch carried %q, want the refreshed access-2", tok)
		}
	}
	requireRefreshedSession(t, e, "access-2", "refresh-2")
	requireSame(t, "the upload after a refresh", before, snapshot(t, e, append(names, "auth/session.salt")))
}

// TestPythonFilesIntactAcrossGoCommands is the "Done when" for a
// machine with both CLIs: over a runtime root holding the Python CLI's
// login (its encrypted format, a live token) and its queues and project
// stores, every Go command that has no reason to change them leaves
// auth/session.json, auth/session.salt, auth/*.lock, queue.db, queues/,
// projects/ and config.toml byte-identical — while the daemon uploads with
// that login in the background.
func TestPythonFilesIntactAcrossGoCommands(t *testing.T) {
	e := testenv.New(t)
	srv := newE2EServer(t, e, "access-1", "refresh-1")
	names := append(pythonFiles(t, e, srv.URL), "auth/session.json", "auth/session.salt")
	pythonSession(t, e, "access-1", "refresh-1", time.Now().Add(time.Hour))
	before := snapshot(t, e, names)
	project := newProjectDir(t)

	var ids []string
	step := func(wantCode int, args ...string) {
		t.Helper()
		r := e.Run(args...)
		if r.Code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.Code, wantCode, r.Stdout, r.Stderr)
		}
		requireSame(t, strings.Join(args, " "), before, snapshot(t, e, names))
	}
	publishStep := func(i int) {
		t.Helper()
		ids = append(ids, publishCLI(t, e, project, i))
		requireSame(t, "sync publish", before, snapshot(t, e, names))
	}

	step(0, "sync", "start")
	step(0, "sync", "start", "--json")
	publishStep(0)
	publishStep(1)
	waitFor(t, 30*time.Second, "the uploads", func() bool { return len(srv.Delivered()) == len(ids) })
	requireSame(t, "the daemon's uploads", before, snapshot(t, e, names))
	step(0, "sync", "status")
	step(0, "sync", "status", "--json")
	step(0, "sync", "parked")
	step(0, "sync", "parked", "--json")
	step(0, "sync", "parked", "--retry")
	step(0, "auth", "status", "--json")
	step(0, "auth", "doctor")
	step(0, "auth", "doctor", "--json")
	step(0, "auth", "doctor", "--reset")
	step(0, "auth", "doctor", "--reset", "--json")
	step(0, "dashboard", "--project", project, "--json")
	step(0, "dashboard", "--project", project)
	step(0, "dashboard", "--project", project, "--stop")
	step(0, "sync", "stop")
	step(1, "sync", "status")
	publishStep(2) // starts a new daemon, which drains as before
	waitFor(t, 30*time.Second, "the last upload", func() bool { return len(srv.Delivered()) == len(ids) })
	step(0, "sync", "stop")

	requireDeliveredOnce(t, srv.Server, ids)
	if refreshes, _, _ := srv.snapshot(); len(refreshes) != 0 {
		t.Fatalf("a live token was refreshed: %+v", refreshes)
	}
	if got := decryptPythonSession(t, e); got["access_token"] != "access-1" || got["refresh_token"] != "refresh-1" {
		t.Fatalf("the Python login changed: %v", got)
	}
}

// TestSyncE2E_WaitsForAnotherCLIsRefresh: while another process (here the
// test, as the Python CLI would) holds auth/refresh.lock and refreshes the
// expired login, the daemon does not refresh on its own: once the lock is
// released it finds the session the other wrote, uploads with that token,
// and never calls the token endpoint — whose refresh token the other CLI
// has already spent.
func TestSyncE2E_WaitsForAnotherCLIsRefresh(t *testing.T) {
	e := testenv.New(t)
	srv := newE2EServer(t, e, "not-issued-yet", "refresh-1")
	pythonFiles(t, e, srv.URL)
	pythonSession(t, e, "access-1", "refresh-1", time.Now().Add(-time.Minute))
	project := newProjectDir(t)

	lock, err := os.OpenFile(e.Path("auth", "refresh.lock"), os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("taking refresh.lock: %v", err)
	}
	id := publishCLI(t, e, project, 0)
	// Give the daemon time to reach the lock (the outcome below does not
	// depend on whether it did; what it did meanwhile does).
	time.Sleep(time.Second)
	if refreshes, _, _ := srv.snapshot(); len(refreshes) != 0 || srv.Requests() != 0 {
		t.Fatalf("while another process held refresh.lock: %d refreshes, %d batches", len(refreshes), srv.Requests())
	}
	// The other CLI's refresh: rotated tokens, written in the shared format.
	srv.SetToken("access-py")
	pythonSession(t, e, "access-py", "refresh-py", time.Now().Add(time.Hour))
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 30*time.Second, "the event at the server", func() bool { return len(srv.Delivered()) == 1 })
	requireDeliveredOnce(t, srv.Server, []string{id})
	refreshes, tokens, _ := srv.snapshot()
	if len(refreshes) != 0 {
		t.Fatalf("the daemon refreshed although another process just had: %+v", refreshes)
	}
	if srv.Requests() != len(tokens) || len(tokens) == 0 || tokens[0] != "access-py" {
		t.Fatalf("batches carried %v (%d requests); want only the other CLI's access-py", tokens, srv.Requests())
	}
	if got := decryptPythonSession(t, e); got["refresh_token"] != "refresh-py" {
		t.Fatalf("the other CLI's login was overwritten: refresh %v", got["refresh_token"])
	}
}
