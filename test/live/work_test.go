//go:build linux

package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/batchtest"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// liveServer is the hosted sync server's batch endpoint (batchtest: it
// checks the contract, deduplicates by event_id and counts deliveries),
// with switches to make it fail, be slow after storing a batch, or refuse
// large batches with 413.
type liveServer struct {
	*batchtest.Server
	failing atomic.Bool
	delay   atomic.Int64 // nanoseconds, after storing and before answering
	maxSize atomic.Int64 // > 0: batches larger than this get 413
	parkAll atomic.Bool  // every single event gets 413: parked
}

func newFakeServer(t *testing.T) *liveServer {
	s := &liveServer{}
	s.Server = batchtest.New("server-token", func(req batchtest.Request) batchtest.Answer {
		if s.failing.Load() {
			return batchtest.Answer{Status: http.StatusServiceUnavailable, Body: map[string]string{"error": "unavailable"}}
		}
		if n := s.maxSize.Load(); (n > 0 && int64(len(req.IDs)) > n) || s.parkAll.Load() {
			return batchtest.Answer{Status: http.StatusRequestEntityTooLarge, Body: map[string]string{"error": "payload too large"}}
		}
		res := s.Store(req.IDs, nil)
		time.Sleep(time.Duration(s.delay.Load()))
		return batchtest.Answer{Status: http.StatusOK, Body: map[string]any{"results": res}}
	})
	t.Cleanup(func() {
		s.Close()
		for _, v := range s.Violations() {
			t.Errorf("contract violation: %s", v)
		}
	})
	return s
}

// count is how many distinct events the server stored.
func (s *liveServer) count() int { return len(s.Delivered()) }

// testProject is the project identity of the live tests' events.
const testProject = "550e8400-e29b-41d4-a716-446655440000"

// newProjectDir makes a project directory with a .kittify/config.yaml as
// the upstream CLI writes it.
func newProjectDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".kittify"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "# spec-kitty project\nproject:\n  uuid: " + testProject + "\n  slug: live-test\n  repo_slug: acme/live-test\nagents:\n  available:\n    - claude\n"
	if err := os.WriteFile(filepath.Join(dir, ".kittify", "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func login(t *testing.T, e *testenv.Env, server string) {
	t.Helper()
	res := e.RunWith(nil, "server-token\n", "auth", "login", "--with-token", "--server", server, "--email", "u@example.com", "--team", "t")
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

// publish queues n valid envelopes through the daemon's control plane and
// returns their event ids.
func publish(t *testing.T, rec statefile.Record, n int) []string {
	t.Helper()
	ids := make([]string, n)
	c := client.New(rec.Port)
	for i := range n {
		_, raw, err := events.Build(events.Request{
			Type: "ErrorLogged", AggregateID: "live", AggregateType: "Mission",
			Payload: json.RawMessage(fmt.Sprintf(`{"error_type":"live","error_message":"event %d"}`, i)),
			Project: events.Project{UUID: testProject, BuildID: "live-build"},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Publish(context.Background(), rec.Token, raw)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		ids[i] = out.EventID
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
	if depth, err := queue.ReadDepth(e.Path("sync-daemon-queue.db")); err != nil || depth != 0 {
		t.Fatalf("queue depth after drain = %d, %v", depth, err)
	}
}

// TestSync_NoLossAcrossSIGKILL kills the daemon while the server holds an
// answer: the batch is stored at the server but the daemon never hears it.
// The server refuses batches over 100 events (413), so the upload is many
// halved batches and the kill lands mid-queue. The next daemon drains the
// rest: every event is stored, none twice, and the only resends are the
// events of the batch whose answer the kill swallowed (answered as
// duplicates).
func TestSync_NoLossAcrossSIGKILL(t *testing.T) {
	srv := newFakeServer(t)
	srv.failing.Store(true)
	srv.maxSize.Store(100)
	e := testenv.New(t)
	res := start(t, e)
	ids := publish(t, recorded(t, e), 500)
	srv.failing.Store(false)
	srv.delay.Store(int64(300 * time.Millisecond))
	login(t, e, srv.URL)
	rec := recorded(t, e)
	if err := client.New(rec.Port).Trigger(context.Background(), rec.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the first stored batch", func() bool { return srv.count() >= 1 })
	if err := syscall.Kill(res.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitExited(res.PID, 5*time.Second) {
		t.Fatal("daemon survived SIGKILL")
	}
	if srv.count() == 500 {
		t.Fatal("the upload finished before the kill: the test proved nothing")
	}
	storedAtKill := srv.count()
	srv.delay.Store(0)
	next := start(t, e)
	if !next.Started {
		t.Fatalf("start after kill = %+v", next)
	}
	waitFor(t, 30*time.Second, "all 500 events at the server", func() bool { return srv.count() == 500 })
	delivered := srv.Delivered()
	resent := 0
	for _, id := range ids {
		switch n := delivered[id]; {
		case n == 0:
			t.Errorf("event %s lost", id)
		case n > 1:
			resent++
		}
	}
	t.Logf("stored before the kill: %d; sent again after it (answered duplicate): %d; stored in all: %d", storedAtKill, resent, len(delivered))
	if resent > storedAtKill || resent > 100 {
		t.Errorf("%d events sent again after the kill; only the one unanswered batch (≤ %d) may be", resent, storedAtKill)
	}
	waitFor(t, 10*time.Second, "the queue to empty", func() bool {
		var st api.StatusResult
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.QueueDepth == 0
	})
}

func TestPublish_RefusesBadRequests(t *testing.T) {
	e := testenv.New(t)
	start(t, e)
	rec := recorded(t, e)
	valid := `{"event_id":"01JMBY7K8N3QRVX2DPFG5HWT4E","event_type":"ErrorLogged","aggregate_id":"a","aggregate_type":"Mission",` +
		`"schema_version":"3.0.0","build_id":"b","payload":%s,"node_id":"n","lamport_clock":0,"correlation_id":"01JMBY7K8N3QRVX2DPFG5HWT4E",` +
		`"timestamp":"2026-01-01T00:00:00Z","project_uuid":"` + testProject + `"}`
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"garbage", "\x00\x01 not json", http.StatusBadRequest},
		{"no token", `{"event":` + fmt.Sprintf(valid, `{"error_type":"x","error_message":"y"}`) + `}`, http.StatusForbidden},
		{"wrong token", `{"token":"nope","event":` + fmt.Sprintf(valid, `{"error_type":"x","error_message":"y"}`) + `}`, http.StatusForbidden},
		{"no event", `{"token":"` + rec.Token + `"}`, http.StatusBadRequest},
		{"old shape", `{"token":"` + rec.Token + `","event":{"type":"t","data":{}}}`, http.StatusBadRequest},
		{"payload breaks schema", `{"token":"` + rec.Token + `","event":` + fmt.Sprintf(valid, `{"error_message":"y"}`) + `}`, http.StatusBadRequest},
		{"oversized", `{"token":"` + rec.Token + `","event":` + fmt.Sprintf(valid, `{"error_type":"x","error_message":"`+strings.Repeat("x", 3<<20)+`"}`) + `}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := post(t, rec.Port, "/api/sync/publish", tc.body); code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
		})
	}
	var st api.StatusResult
	e.MustJSON(&st, "sync", "status", "--json")
	if st.Sync.QueueDepth != 0 {
		t.Fatalf("refused requests queued %d events", st.Sync.QueueDepth)
	}
}

// TestPublish_CLI: the command builds a valid envelope from the flags and
// the project's .kittify identity, prints its event_id, refuses bad events
// with one line naming the field before anything is queued, and a retry
// with --event-id queues nothing new.
func TestPublish_CLI(t *testing.T) {
	e := testenv.New(t)
	project := newProjectDir(t)
	wp := `{"mission_slug":"m","wp_id":"WP01","from_lane":"planned","to_lane":"claimed","actor":"me","execution_mode":"worktree"}`
	for _, tc := range []struct {
		name  string
		args  []string
		field string
		code  int
	}{
		{"unknown type", []string{"--type", "NoSuchEvent", "--aggregate-id", "WP01", "--aggregate-type", "WorkPackage"}, "event_type", 1},
		{"payload breaks schema", []string{"--type", "WPStatusChanged", "--aggregate-id", "WP01", "--aggregate-type", "WorkPackage", "--payload", `{"wp_id":"WP01"}`}, "payload", 1},
		{"unknown lane", []string{"--type", "WPStatusChanged", "--aggregate-id", "WP01", "--aggregate-type", "WorkPackage", "--data", strings.Replace(wp, "claimed", "clamied", 1)}, "payload.to_lane", 1},
		{"not json", []string{"--type", "WPStatusChanged", "--aggregate-id", "WP01", "--aggregate-type", "WorkPackage", "--payload", "{nope"}, "not valid JSON", 2},
		{"bad aggregate type", []string{"--type", "ErrorLogged", "--aggregate-id", "a", "--aggregate-type", "Feature", "--payload", `{"error_type":"x","error_message":"y"}`}, "aggregate_type", 1},
		{"bad event id", []string{"--type", "ErrorLogged", "--aggregate-id", "a", "--aggregate-type", "Mission", "--payload", `{"error_type":"x","error_message":"y"}`, "--event-id", "not-a-ulid"}, "event_id", 1},
		{"missing aggregate", []string{"--type", "ErrorLogged", "--aggregate-type", "Mission"}, "--aggregate-id", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.Run(append([]string{"sync", "publish", "--project", project}, tc.args...)...)
			if res.Code != tc.code || !strings.Contains(res.Stderr, tc.field) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want %d and one line naming %s", res.Code, res.Stderr, tc.code, tc.field)
			}
		})
	}
	big := `{"error_type":"x","error_message":"` + strings.Repeat("x", 600<<10) + `"}`
	if res := e.RunWith(nil, big, "sync", "publish", "--project", project, "--type", "ErrorLogged", "--aggregate-id", "a", "--aggregate-type", "Mission", "--payload", "-"); res.Code != 1 || !strings.Contains(res.Stderr, "limit of 524288") {
		t.Fatalf("publish of a 600 KiB payload: %d %.300q", res.Code, res.Stderr)
	}
	if res := e.Run("sync", "publish", "--project", t.TempDir(), "--type", "ErrorLogged", "--aggregate-id", "a", "--aggregate-type", "Mission"); res.Code != 1 || !strings.Contains(res.Stderr, "config.yaml") {
		t.Fatalf("publish without a project identity: %d %q", res.Code, res.Stderr)
	}
	if c, err := queue.ReadCounts(e.Path("sync-daemon-queue.db")); err != nil || c.Depth != 0 {
		t.Fatalf("refused publishes queued %+v, %v", c, err)
	}

	args := []string{"sync", "publish", "--project", project, "--type", "WPStatusChanged", "--aggregate-id", "WP01", "--aggregate-type", "WorkPackage", "--payload", wp}
	first := e.Run(args...)
	id := strings.TrimSpace(first.Stdout)
	if first.Code != 0 || len(id) != 26 {
		t.Fatalf("publish: %d stdout %q stderr %q", first.Code, first.Stdout, first.Stderr)
	}
	again := e.Run(append(args, "--event-id", id)...)
	if again.Code != 0 || strings.TrimSpace(again.Stdout) != id {
		t.Fatalf("retry with --event-id: %d %q %q", again.Code, again.Stdout, again.Stderr)
	}
	fresh := e.Run(append(args, "--event-id", "01JMBY7K8N3QRVX2DPFG5HWT4E")...)
	if fresh.Code != 0 || strings.TrimSpace(fresh.Stdout) != "01JMBY7K8N3QRVX2DPFG5HWT4E" {
		t.Fatalf("publish with a chosen id: %d %q %q", fresh.Code, fresh.Stdout, fresh.Stderr)
	}
	var st api.StatusResult
	e.MustJSON(&st, "sync", "status", "--json")
	if st.Sync.QueueDepth != 2 {
		t.Fatalf("queue depth %d after two events (one retried), want 2", st.Sync.QueueDepth)
	}
}

// TestQueue_PythonCLIFilesUntouched: the Go daemon keeps its own queue file
// and never opens, writes or deletes the Python CLI's queue.db or queues/.
func TestQueue_PythonCLIFilesUntouched(t *testing.T) {
	e := testenv.New(t)
	python := map[string][]byte{
		"queue.db":              []byte("SQLite format 3\x00 python offline queue, not ours"),
		"queues/project-1.db":   []byte("python project queue"),
		"projects/p/state.json": []byte(`{"python":true}`),
	}
	for rel, data := range python {
		path := e.Path(filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start(t, e)
	publish(t, recorded(t, e), 3)
	var st api.StatusResult
	e.MustJSON(&st, "sync", "status", "--json")
	if res := e.Run("sync", "stop"); res.Code != 0 {
		t.Fatalf("sync stop: %s", res.Stderr)
	}
	if c, err := queue.ReadCounts(e.Path("sync-daemon-queue.db")); err != nil || c.Depth != 3 {
		t.Fatalf("own queue holds %+v, %v; want 3", c, err)
	}
	for rel, want := range python {
		got, err := os.ReadFile(e.Path(filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed: %q, %v", rel, got, err)
		}
	}
	for _, side := range []string{"queue.db-wal", "queue.db-shm", "queue.db-journal"} {
		if _, err := os.Stat(e.Path(side)); err == nil {
			t.Errorf("%s was created", side)
		}
	}
}

// TestParked_VisibleAndRetried: an event the server refuses as too large is
// parked, not retried for ever: sync status --json counts it, auth doctor
// names the command that shows it, sync parked lists it, and --retry sends
// it again once the server takes it.
func TestParked_VisibleAndRetried(t *testing.T) {
	srv := newFakeServer(t)
	srv.parkAll.Store(true)
	e := testenv.New(t)
	login(t, e, srv.URL)
	start(t, e)
	ids := publish(t, recorded(t, e), 2)
	var st api.StatusResult
	waitFor(t, 20*time.Second, "both events parked", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.Parked == 2
	})
	if st.Sync.QueueDepth != 2 || st.Sync.LastError != nil && strings.Contains(*st.Sync.LastError, "server-token") {
		t.Fatalf("status = %+v", st.Sync)
	}
	var rep api.DoctorReport
	e.MustJSON(&rep, "auth", "doctor", "--json")
	found := false
	for _, f := range rep.Findings {
		if f.ID == "parked_events" && f.Remediation.Command == "spec-kitty sync parked" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no parked_events finding naming the command: %+v", rep.Findings)
	}
	var parked api.ParkedResult
	e.MustJSON(&parked, "sync", "parked", "--json")
	if len(parked.Parked) != 2 || !strings.Contains(parked.Parked[0].LastError, "oversized") {
		t.Fatalf("sync parked = %+v", parked)
	}
	srv.parkAll.Store(false)
	e.MustJSON(&parked, "sync", "parked", "--retry", "--json")
	if parked.Retried != 2 || len(parked.Parked) != 0 {
		t.Fatalf("sync parked --retry = %+v", parked)
	}
	waitFor(t, 20*time.Second, "the retried events at the server", func() bool { return srv.count() == 2 })
	for _, id := range ids {
		if srv.Delivered()[id] != 1 {
			t.Errorf("event %s delivered %d times", id, srv.Delivered()[id])
		}
	}
}

// TestPublish_BusyDaemonIsWaitedFor: a daemon that cannot answer for longer
// than the control plane's usual timeout (here: stopped with SIGSTOP) still
// gets the publish, and the caller hears of the commit rather than a
// failure.
func TestPublish_BusyDaemonIsWaitedFor(t *testing.T) {
	e := testenv.New(t)
	res := start(t, e)
	rec := recorded(t, e)
	_, raw, err := events.Build(events.Request{
		Type: "ErrorLogged", AggregateID: "busy", AggregateType: "Mission",
		Payload: json.RawMessage(`{"error_type":"busy","error_message":"m"}`),
		Project: events.Project{UUID: testProject, BuildID: "live-build"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(res.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(res.PID, syscall.SIGCONT) })
	done := make(chan error, 1)
	go func() {
		_, err := client.New(rec.Port).Publish(context.Background(), rec.Token, raw)
		done <- err
	}()
	time.Sleep(3 * client.DefaultTimeout) // the daemon stays stopped well past the old 500 ms limit
	if err := syscall.Kill(res.PID, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("publish to a busy daemon: %v", err)
	}
	var st api.StatusResult
	e.MustJSON(&st, "sync", "status", "--json")
	if st.Sync.QueueDepth != 1 {
		t.Fatalf("queue depth %d, want 1", st.Sync.QueueDepth)
	}
}
