package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// fakeServer is the hosted sync server: it records every event id it
// accepted and can be told to fail or to be slow.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	ids     map[string]int
	failing atomic.Bool
	delay   atomic.Int64 // nanoseconds per batch
	batches atomic.Int64
}

func newFakeServer(t *testing.T) *fakeServer {
	s := &fakeServer{ids: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/events/batch/" || r.Header.Get("Authorization") != "Bearer server-token" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(s.delay.Load()))
		if s.failing.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		var body struct {
			Events []struct{ ID string } `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, e := range body.Events {
			s.ids[e.ID]++
		}
		s.mu.Unlock()
		s.batches.Add(1)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"accepted":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

func login(t *testing.T, e *testenv.Env, server string) {
	t.Helper()
	res := e.RunWith(nil, "server-token\n", "auth", "login", "--server", server, "--email", "u@example.com", "--team", "t")
	if res.Code != 0 {
		t.Fatalf("auth login: %d %s", res.Code, res.Stderr)
	}
	fi, err := os.Stat(e.Path("auth", "session.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v, mode %v", err, fi.Mode().Perm())
	}
}

func recorded(t *testing.T, e *testenv.Env) statefile.Record {
	t.Helper()
	rec, err := statefile.Read(e.Path("sync-daemon"))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func publish(t *testing.T, rec statefile.Record, n int) []string {
	t.Helper()
	ids := make([]string, n)
	c := client.New(rec.Port)
	for i := range n {
		out, err := c.Publish(context.Background(), rec.Token, json.RawMessage(fmt.Sprintf(`{"type":"test.event","data":{"i":%d}}`, i)))
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		ids[i] = out.ID
	}
	return ids
}

func TestRetire_AS5_IdleDaemonExitsByItself(t *testing.T) {
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_DAEMON_TICK_SECONDS"] = "0.1"
	e.Vars["SPEC_KITTY_IDLE_RETIREMENT_SECONDS"] = "0.5"
	res := start(t, e)
	if !testenv.WaitExited(res.PID, 10*time.Second) {
		t.Fatalf("idle daemon pid %d did not retire", res.PID)
	}
	testenv.WaitFree(t, res.Port)
	if _, err := os.Stat(e.Path("daemons", fmt.Sprint(res.Port)+".json")); !os.IsNotExist(err) {
		t.Fatalf("retired daemon left its instance record: %v", err)
	}
	if rec := recorded(t, e); rec.PID != res.PID {
		t.Fatalf("state file changed by retirement: %+v", rec)
	}
	again := start(t, e)
	if !again.Started || again.PID == res.PID {
		t.Fatalf("start after retirement = %+v, want a fresh daemon", again)
	}
}

func TestRetire_FR010_SupersededDaemonRetires(t *testing.T) {
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_DAEMON_TICK_SECONDS"] = "0.2"
	ports := testenv.FreePorts(t, api.SyncRange, 2)
	old := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1]})
	cur := start(t, e) // the reaper may stop old itself; either way only cur remains
	if cur.PID == old.PID {
		t.Fatal("start reused an unrecorded daemon")
	}
	if !old.WaitExit(2 * time.Second) {
		t.Fatalf("superseded daemon pid %d still running after several ticks", old.PID)
	}
	if !procinfo.Alive(cur.PID) {
		t.Fatal("the recorded daemon retired too")
	}
}

func TestRetire_SupersededByRecordOnly(t *testing.T) {
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_DAEMON_TICK_SECONDS"] = "0.2"
	ports := testenv.FreePorts(t, api.SyncRange, 2)
	a := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0]})
	b := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1]})
	if err := statefile.Write(e.Path("sync-daemon"), statefile.Record{URL: client.URL(b.Port), Port: b.Port, Token: b.Token, PID: b.PID}); err != nil {
		t.Fatal(err)
	}
	if !a.WaitExit(3 * time.Second) {
		t.Fatal("daemon not named by the state file did not retire within a few ticks")
	}
	time.Sleep(500 * time.Millisecond) // more than two ticks: the recorded one must stay
	if b.Exited() {
		t.Fatal("recorded daemon retired")
	}
}

func TestRetire_NeverWithWorkQueued(t *testing.T) {
	srv := newFakeServer(t)
	srv.failing.Store(true)
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_DAEMON_TICK_SECONDS"] = "0.1"
	e.Vars["SPEC_KITTY_IDLE_RETIREMENT_SECONDS"] = "0.3"
	login(t, e, srv.URL)
	res := start(t, e)
	publish(t, recorded(t, e), 5)
	time.Sleep(1500 * time.Millisecond) // five idle windows with work queued and a server configured
	if !procinfo.Alive(res.PID) {
		t.Fatal("daemon retired with events queued and a server configured")
	}
	srv.failing.Store(false)
	waitFor(t, 20*time.Second, "the queue to drain", func() bool { return srv.count() == 5 })
	if !testenv.WaitExited(res.PID, 10*time.Second) {
		t.Fatal("daemon did not retire once its work was done")
	}
	if depth, err := queue.ReadDepth(e.Path("queue.db")); err != nil || depth != 0 {
		t.Fatalf("queue depth after drain = %d, %v", depth, err)
	}
}

func TestSync_NoLossAcrossSIGKILL(t *testing.T) {
	srv := newFakeServer(t)
	srv.failing.Store(true)
	e := testenv.New(t)
	res := start(t, e)
	ids := publish(t, recorded(t, e), 500)
	srv.failing.Store(false)
	srv.delay.Store(int64(150 * time.Millisecond))
	login(t, e, srv.URL)
	rec := recorded(t, e)
	if err := client.New(rec.Port).Trigger(context.Background(), rec.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the first accepted batch", func() bool { return srv.batches.Load() >= 1 })
	if err := syscall.Kill(res.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitExited(res.PID, 5*time.Second) {
		t.Fatal("daemon survived SIGKILL")
	}
	if srv.count() == 500 {
		t.Fatal("the upload finished before the kill: the test proved nothing")
	}
	srv.delay.Store(0)
	next := start(t, e)
	if !next.Started {
		t.Fatalf("start after kill = %+v", next)
	}
	waitFor(t, 30*time.Second, "all 500 events at the server", func() bool { return srv.count() == 500 })
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, id := range ids {
		if srv.ids[id] == 0 {
			t.Fatalf("event %s lost", id)
		}
	}
}

func TestPublish_RefusesBadRequests(t *testing.T) {
	e := testenv.New(t)
	start(t, e)
	rec := recorded(t, e)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"garbage", "\x00\x01 not json", http.StatusBadRequest},
		{"no token", `{"event":{"type":"t","data":{}}}`, http.StatusForbidden},
		{"wrong token", `{"token":"nope","event":{"type":"t","data":{}}}`, http.StatusForbidden},
		{"no event", `{"token":"` + rec.Token + `"}`, http.StatusBadRequest},
		{"no type", `{"token":"` + rec.Token + `","event":{"data":{}}}`, http.StatusBadRequest},
		{"oversized", `{"token":"` + rec.Token + `","event":{"type":"t","data":"` + strings.Repeat("x", 3<<20) + `"}}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := post(t, rec.Port, "/api/sync/publish", tc.body); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
		})
	}
	if bad := e.Run("sync", "publish", "--type", "t", "--data", "{not json"); bad.Code != 2 || !strings.Contains(bad.Stderr, "not valid JSON") {
		t.Fatalf("publish with invalid --data: %d %q", bad.Code, bad.Stderr)
	}
	var st api.StatusResult
	e.MustJSON(&st, "sync", "status", "--json")
	if st.Sync.QueueDepth != 0 {
		t.Fatalf("refused requests queued %d events", st.Sync.QueueDepth)
	}
	if ok := e.Run("sync", "publish", "--type", "t", "--data", `{"ok":true}`); ok.Code != 0 {
		t.Fatalf("valid publish: %s", ok.Stderr)
	}
	e.MustJSON(&st, "sync", "status", "--json")
	if st.Sync.QueueDepth != 1 {
		t.Fatalf("queue depth after one publish = %d", st.Sync.QueueDepth)
	}
}
