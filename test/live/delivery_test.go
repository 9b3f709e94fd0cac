//go:build linux

package live

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/batchtest"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The delivery tests run the races and bad states of issue 20 against the
// real binary: two daemons of one scope, a publish after delivery, a login
// without a Private Teamspace, an event another node stamped.

// health asks the daemon on port for its health answer.
func health(t *testing.T, port int) *api.Health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := client.New(port).Health(ctx)
	if err != nil {
		t.Fatalf("health of port %d: %v", port, err)
	}
	return h
}

// publishTo queues one valid envelope through the daemon on port.
func publishTo(t *testing.T, port int, token string, i int) string {
	t.Helper()
	_, raw, err := events.Build(events.Request{
		Type: "ErrorLogged", AggregateID: "live", AggregateType: "Mission",
		Payload: json.RawMessage(fmt.Sprintf(`{"error_type":"live","error_message":"event %d"}`, i)),
		Project: events.Project{UUID: testProject, BuildID: "live-build"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.New(port).Publish(context.Background(), token, raw)
	if err != nil {
		t.Fatalf("publish %d to port %d: %v", i, port, err)
	}
	return out.EventID
}

// TestDelivery_OneUploaderPerScope: the recorded daemon and a stale one of
// another version share the scope's queue. Events published to both are
// each stored once by the server, because only the holder of
// sync-daemon-upload.lock sends. When the holder is SIGKILLed, the other
// takes the lock over and drains what is queued.
func TestDelivery_OneUploaderPerScope(t *testing.T) {
	srv := newFakeServer(t)
	srv.delay.Store(int64(150 * time.Millisecond)) // rounds of two uploaders would overlap
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_DAEMON_TICK_SECONDS"] = "60" // the stale one must not retire during the test
	login(t, e, srv.URL)
	cur := start(t, e)
	rec := recorded(t, e)
	var stalePort int
	for _, p := range testenv.FreePorts(t, api.SyncRange, 2) {
		if p != cur.Port {
			stalePort = p
			break
		}
	}
	stale := e.SpawnDaemon(testenv.DaemonOpts{Port: stalePort, Version: "3.2.2"})

	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range []struct {
		port  int
		token string
	}{{rec.Port, rec.Token}, {stale.Port, stale.Token}} {
		wg.Go(func() {
			for i := range 40 {
				id := publishTo(t, d.port, d.token, i)
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				if i%10 == 9 {
					_ = client.New(d.port).Trigger(context.Background(), d.token)
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "all 80 events at the server", func() bool { return srv.count() == 80 })
	waitFor(t, 10*time.Second, "the queue to empty", func() bool {
		depth, err := queue.ReadDepth(e.Path("sync-daemon-queue.db"))
		return err == nil && depth == 0
	})
	assertStoredOnce(t, srv, ids)
	if h := health(t, rec.Port); !h.Sync.Uploader {
		t.Errorf("the recorded daemon does not report itself as the uploader: %+v", h.Sync)
	}
	if h := health(t, stale.Port); h.Sync.Uploader {
		t.Errorf("the stale daemon reports itself as the uploader: %+v", h.Sync)
	}

	// The holder goes away with events queued: the stale daemon takes over.
	srv.failing.Store(true)
	var more []string
	for i := range 10 {
		more = append(more, publishTo(t, stale.Port, stale.Token, 100+i))
	}
	if err := syscall.Kill(cur.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitExited(cur.PID, 5*time.Second) {
		t.Fatal("the holder survived SIGKILL")
	}
	srv.failing.Store(false)
	waitFor(t, 30*time.Second, "the stale daemon to drain the queue", func() bool { return srv.count() == 90 })
	assertStoredOnce(t, srv, append(ids, more...))
	if h := health(t, stale.Port); !h.Sync.Uploader {
		t.Errorf("the daemon that drained does not report itself as the uploader: %+v", h.Sync)
	}
}

func assertStoredOnce(t *testing.T, srv *liveServer, ids []string) {
	t.Helper()
	got := srv.Delivered()
	twice := 0
	for _, id := range ids {
		switch got[id] {
		case 1:
		case 0:
			t.Errorf("event %s never stored", id)
		default:
			twice++
		}
	}
	if twice > 0 {
		t.Errorf("%d of %d events were sent and stored more than once (two uploaders)", twice, len(ids))
	}
}

// TestDelivery_PublishAfterDeliveryQueuesNothing: `sync publish --event-id
// X` after X was delivered queues nothing and says "already delivered";
// the server sees X once.
func TestDelivery_PublishAfterDeliveryQueuesNothing(t *testing.T) {
	srv := newFakeServer(t)
	e := testenv.New(t)
	login(t, e, srv.URL)
	project := newProjectDir(t)
	args := []string{"sync", "publish", "--project", project, "--type", "ErrorLogged", "--aggregate-id", "a",
		"--aggregate-type", "Mission", "--payload", `{"error_type":"x","error_message":"y"}`}
	first := e.Run(args...)
	id := strings.TrimSpace(first.Stdout)
	if first.Code != 0 || len(id) != 26 {
		t.Fatalf("publish: %d %q %q", first.Code, first.Stdout, first.Stderr)
	}
	waitFor(t, 20*time.Second, "the event at the server and out of the queue", func() bool {
		depth, err := queue.ReadDepth(e.Path("sync-daemon-queue.db"))
		return srv.Delivered()[id] == 1 && err == nil && depth == 0
	})

	again := e.Run(append(args, "--event-id", id)...)
	if again.Code != 0 || strings.TrimSpace(again.Stdout) != id || !strings.Contains(again.Stderr, "already delivered") {
		t.Fatalf("publish --event-id of a delivered event: %d stdout %q stderr %q; want 0, the id, \"already delivered\"", again.Code, again.Stdout, again.Stderr)
	}
	var out api.PublishResponse
	e.MustJSON(&out, append(args, "--event-id", id, "--json")...)
	if !out.AlreadyDelivered || out.Existed || out.EventID != id {
		t.Errorf("publish --json of a delivered event: %+v; want already_delivered", out)
	}
	if depth, err := queue.ReadDepth(e.Path("sync-daemon-queue.db")); err != nil || depth != 0 {
		t.Fatalf("queue depth %d (%v) after publishing a delivered event, want 0", depth, err)
	}
	// A fresh event goes out after anything queued before it: once it is
	// at the server, a re-queued X would have been sent too.
	fresh := e.Run(args...)
	freshID := strings.TrimSpace(fresh.Stdout)
	waitFor(t, 20*time.Second, "the next event at the server", func() bool { return srv.Delivered()[freshID] == 1 })
	if n := srv.Seen()[id]; n != 1 {
		t.Errorf("the server received %s %d times, want once", id, n)
	}
}

// TestDelivery_WithheldWithoutPrivateTeamspace: a login whose teams hold
// no Private Teamspace keeps events queued (nothing reaches the server,
// not even its shared default team), and the doctor says why and what to
// run. Once the login has a Private Teamspace, the events go there.
func TestDelivery_WithheldWithoutPrivateTeamspace(t *testing.T) {
	var mu sync.Mutex
	teams := map[string]int{}
	srv := batchtest.New("server-token", func(req batchtest.Request) batchtest.Answer {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range req.Events {
			team, _ := ev["team_slug"].(string)
			teams[team]++
		}
		return batchtest.Answer{}
	})
	t.Cleanup(srv.Close)
	e := testenv.New(t)
	saveLogin(t, e, srv.URL, session.Team{ID: "shared", Name: "Shared", Role: "member"})
	res := start(t, e)
	rec := recorded(t, e)
	ids := []string{publishTo(t, rec.Port, rec.Token, 1), publishTo(t, rec.Port, rec.Token, 2)}
	if err := client.New(rec.Port).Trigger(context.Background(), rec.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the daemon to withhold or send the events", func() bool {
		log, _ := os.ReadFile(e.Path("sync-daemon.log"))
		return strings.Contains(string(log), "direct_ingress_missing_private_team") || srv.Requests() > 0
	})
	if n := srv.Requests(); n != 0 {
		mu.Lock()
		t.Fatalf("%d batches sent for a login without a Private Teamspace (team_slug %v)", n, teams)
	}
	if depth, err := queue.ReadDepth(e.Path("sync-daemon-queue.db")); err != nil || depth != 2 {
		t.Fatalf("queue depth %d (%v), want the 2 withheld events", depth, err)
	}
	var rep api.DoctorReport
	e.MustJSON(&rep, "auth", "doctor", "--json")
	var found *api.Finding
	for _, f := range rep.Findings {
		if f.ID == "no_private_teamspace" {
			found = &f
		}
	}
	if found == nil || found.Severity != "warning" || !strings.Contains(found.Summary, "Private Teamspace") ||
		!strings.HasPrefix(found.Remediation.Command, "spec-kitty auth login") {
		t.Fatalf("doctor finding no_private_teamspace = %+v", found)
	}
	if !procinfo.Alive(res.PID) {
		t.Fatal("the daemon exited")
	}

	saveLogin(t, e, srv.URL, session.Team{ID: "shared", Name: "Shared"}, session.Team{ID: "mine", Name: "Private", Role: "owner", IsPrivateTeamspace: true})
	if err := client.New(rec.Port).Trigger(context.Background(), rec.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the withheld events at the server", func() bool {
		d := srv.Delivered()
		return d[ids[0]] == 1 && d[ids[1]] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if len(teams) != 1 || teams["mine"] != 2 {
		t.Errorf("team_slug of the uploaded events: %v, want only the Private Teamspace \"mine\"", teams)
	}
	for _, v := range srv.Violations() {
		t.Errorf("contract violation: %s", v)
	}
}

// saveLogin stores a login with the given teams for the batch server.
func saveLogin(t *testing.T, e *testenv.Env, server string, teams ...session.Team) {
	t.Helper()
	now := time.Now().UTC()
	st := &session.Stored{
		UserID: "u-1", Email: "u@example.com", Name: "U", Teams: teams, DefaultTeamID: teams[0].ID,
		AccessToken: "server-token", RefreshToken: "refresh-1", SessionID: "s-1",
		IssuedAt: now, AccessExpires: now.Add(time.Hour), Scope: "offline_access",
		StorageBackend: "file", LastUsedAt: now, AuthMethod: "authorization_code", ServerURL: server,
	}
	if err := session.Save(e.Path("auth", "session.json"), st); err != nil {
		t.Fatal(err)
	}
}

// TestDelivery_ForeignStampKept: an event posted with another node's
// node_id and its own lamport_clock (as the Python CLI's envelope builder
// makes them) reaches the server with both as posted; an event of this
// CLI (clock 0) is stamped with the daemon's node id and the next clock
// value after the one it saw.
func TestDelivery_ForeignStampKept(t *testing.T) {
	var mu sync.Mutex
	got := map[string]map[string]any{}
	srv := batchtest.New("server-token", func(req batchtest.Request) batchtest.Answer {
		mu.Lock()
		defer mu.Unlock()
		for i, id := range req.IDs {
			got[id] = req.Events[i]
		}
		return batchtest.Answer{}
	})
	t.Cleanup(srv.Close)
	e := testenv.New(t)
	login(t, e, srv.URL)
	start(t, e)
	rec := recorded(t, e)
	foreign := `{"event_id":"01JMBY7K8N3QRVX2DPFG5HWT4E","event_type":"ErrorLogged","aggregate_id":"a","aggregate_type":"Mission",` +
		`"schema_version":"3.0.0","build_id":"b","payload":{"error_type":"x","error_message":"y"},"node_id":"python-node-1","lamport_clock":8,` +
		`"correlation_id":"01JMBY7K8N3QRVX2DPFG5HWT4E","timestamp":"2026-01-01T00:00:00Z","project_uuid":"` + testProject + `"}`
	out, err := client.New(rec.Port).Publish(context.Background(), rec.Token, json.RawMessage(foreign))
	if err != nil {
		t.Fatal(err)
	}
	if out.LamportClock != 8 {
		t.Errorf("publish answered lamport_clock %d for an event stamped 8 by its node", out.LamportClock)
	}
	own := publishTo(t, rec.Port, rec.Token, 1)
	if err := client.New(rec.Port).Trigger(context.Background(), rec.Token); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "both events at the server", func() bool {
		d := srv.Delivered()
		return d["01JMBY7K8N3QRVX2DPFG5HWT4E"] == 1 && d[own] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	f := got["01JMBY7K8N3QRVX2DPFG5HWT4E"]
	if f["node_id"] != "python-node-1" || f["lamport_clock"] != float64(8) {
		t.Errorf("foreign event uploaded with node_id %v lamport_clock %v, want python-node-1 and 8", f["node_id"], f["lamport_clock"])
	}
	o := got[own]
	// Stamped by the daemon, after the event it saw stamped 8.
	if o["node_id"] == "python-node-1" || o["node_id"] == "" || o["lamport_clock"] != float64(9) {
		t.Errorf("this CLI's event uploaded with node_id %v lamport_clock %v, want the daemon's node and clock 9", o["node_id"], o["lamport_clock"])
	}
	for _, v := range srv.Violations() {
		t.Errorf("contract violation: %s", v)
	}
}
