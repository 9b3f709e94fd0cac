//go:build linux

package live

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/dashboard"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// dashStart runs `spec-kitty dashboard --project dir --json`.
func dashStart(t *testing.T, e *testenv.Env, dir string) dashboard.Result {
	t.Helper()
	var res dashboard.Result
	e.MustJSON(&res, "dashboard", "--project", dir, "--json")
	return res
}

// dashHealth asks a port for its health, failing the test when it cannot.
func dashHealth(t *testing.T, port int) *api.Health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := client.New(port).Health(ctx)
	if err != nil {
		t.Fatalf("health of port %d: %v", port, err)
	}
	return h
}

// TestDashboard_AS7_LocalOnlyInFreshScope: the dashboard starts, serves its
// page and health, is reused and stopped, and never starts, requires or
// records a sync daemon.
func TestDashboard_AS7_LocalOnlyInFreshScope(t *testing.T) {
	e := testenv.New(t)
	proj := e.NewProject()
	res := dashStart(t, e, proj)
	if res.Reused || res.PID <= 0 || !api.DashboardRange.Contains(res.Port) ||
		res.ProjectPath != proj || res.URL != client.URL(res.Port) {
		t.Fatalf("dashboard --json = %+v, want a new dashboard of %s in [9237, 9337)", res, proj)
	}

	h := dashHealth(t, res.Port)
	if h.Status != "ok" || h.DaemonFamily != api.FamilyDashboard || h.ProjectPath != proj || h.Owner == nil || h.Owner.PID != res.PID {
		t.Fatalf("health = %+v, want an ok dashboard of %s with pid %d", h, proj, res.PID)
	}
	page := get(t, res.Port, "127.0.0.1", "/")
	if !strings.Contains(page, "Spec Kitty") || !strings.Contains(page, "app.js") {
		t.Fatalf("page does not look like the dashboard: %.300s", page)
	}
	get(t, res.Port, "127.0.0.1", "/app.js")
	var rep api.DoctorReport
	if err := json.Unmarshal([]byte(get(t, res.Port, "127.0.0.1", "/api/sync-overview")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.SchemaVersion != api.DoctorSchemaVersion || rep.AuthRoot != e.Home || rep.Daemon.Active {
		t.Fatalf("sync overview = %+v, want the scope's doctor report with no daemon", rep)
	}
	if code := status(t, res.Port, "evil.example", "/api/health"); code != http.StatusForbidden {
		t.Fatalf("non-loopback Host got %d, want 403", code)
	}

	rec, err := testenv.ReadDashboardRecord(proj)
	if err != nil || rec.PID != res.PID || rec.Port != res.Port || rec.URL != res.URL || rec.Token == "" {
		t.Fatalf(".dashboard = %+v, %v; want pid %d port %d", rec, err, res.PID, res.Port)
	}
	if fi, err := os.Stat(dashboard.StateFile(proj)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf(".dashboard mode: %v %v, want 0600", fi, err)
	}
	if strings.Contains(strings.Join(procArgv(t, res.PID), " "), rec.Token) {
		t.Fatal("the token is on the dashboard's argv")
	}

	again := dashStart(t, e, proj)
	if !again.Reused || again.PID != res.PID || again.Port != res.Port || again.Cleanup != nil {
		t.Fatalf("second start = %+v, want reuse of pid %d", again, res.PID)
	}

	assertNoSyncDaemon(t, e)

	var stop dashboard.StopResult
	e.MustJSON(&stop, "dashboard", "--project", proj, "--stop", "--json")
	if !stop.Stopped || stop.PID == nil || *stop.PID != res.PID {
		t.Fatalf("stop = %+v, want pid %d stopped", stop, res.PID)
	}
	if procinfo.Alive(res.PID) {
		t.Fatalf("dashboard pid %d alive after --stop", res.PID)
	}
	testenv.WaitFree(t, res.Port)
	if _, err := os.Stat(dashboard.StateFile(proj)); !os.IsNotExist(err) {
		t.Fatalf(".dashboard left after --stop: %v", err)
	}
	if r := e.Run("dashboard", "--project", proj, "--stop"); r.Code != 0 || !strings.Contains(r.Stdout, "not running") {
		t.Fatalf("second --stop: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	assertNoSyncDaemon(t, e)
}

// assertNoSyncDaemon: no process with the scope marker, no listener of the
// scope in the sync range, no sync state file.
func assertNoSyncDaemon(t *testing.T, e *testenv.Env) {
	t.Helper()
	if pids := e.ScopeDaemons(); len(pids) != 0 {
		t.Fatalf("sync daemons of the scope are running: %v", pids)
	}
	if ports := e.ScopeListeners(); len(ports) != 0 {
		t.Fatalf("the scope listens in the sync range: %v", ports)
	}
	if _, err := os.Stat(e.Path("sync-daemon")); !os.IsNotExist(err) {
		t.Fatalf("a sync state file appeared: %v", err)
	}
}

func procArgv(t *testing.T, pid int) []string {
	t.Helper()
	info, err := procinfo.Read(pid)
	if err != nil {
		t.Fatal(err)
	}
	return info.Argv
}

func TestDashboard_UsageErrors(t *testing.T) {
	e := testenv.New(t)
	if r := e.Run("dashboard", "--project", e.Path("no-such-dir")); r.Code != 2 || !strings.Contains(r.Stderr, "not a directory") {
		t.Fatalf("missing project: %d %q", r.Code, r.Stderr)
	}
	if r := e.Run("dashboard", "stray"); r.Code != 2 {
		t.Fatalf("stray argument: %d %q", r.Code, r.Stderr)
	}
	if r := e.Run("__dashboard-daemon", "--port=9240", "--project=relative"); r.Code != 2 {
		t.Fatalf("relative daemon project: %d %q", r.Code, r.Stderr)
	}
}

// TestDashboard_StaleRecordIsReplaced: a .dashboard naming a dead process
// is cleared and a new dashboard started.
func TestDashboard_StaleRecordIsReplaced(t *testing.T) {
	e := testenv.New(t)
	proj := e.NewProject()
	first := dashStart(t, e, proj)
	p, _ := os.FindProcess(first.PID)
	_ = p.Kill()
	if !testenv.WaitExited(first.PID, 10*time.Second) {
		t.Fatalf("pid %d survived SIGKILL", first.PID)
	}
	testenv.WaitFree(t, first.Port)
	second := dashStart(t, e, proj)
	if second.Reused || second.PID == first.PID {
		t.Fatalf("start after the dashboard died = %+v, want a new one", second)
	}
	if len(second.Notes) == 0 || !strings.Contains(strings.Join(second.Notes, "\n"), "not running") {
		t.Fatalf("notes = %q, want one about the dead recorded dashboard", second.Notes)
	}
}

// TestDashboard_StopWedgedEscalatesThroughTheEngine: --stop of a recorded
// dashboard that no longer answers signals it through the cleanup engine,
// journaled with family dashboard.
func TestDashboard_StopWedgedEscalatesThroughTheEngine(t *testing.T) {
	e := testenv.New(t)
	port := testenv.FreePorts(t, api.DashboardRange, 1)[0]
	proj := e.NewProject()
	d := e.SpawnDashboard(testenv.DashboardOpts{Port: port, Project: proj, Record: true})
	d.Wedge(t)
	var stop dashboard.StopResult
	e.MustJSON(&stop, "dashboard", "--project", proj, "--stop", "--json")
	if !stop.Stopped || !d.WaitExit(10*time.Second) {
		t.Fatalf("stop = %+v; exited: %v", stop, d.Exited())
	}
	entries, err := cleanup.ReadJournal(e.Path("cleanup-journal.jsonl"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("journal: %v %v, want the stop's signals", entries, err)
	}
	for _, en := range entries {
		if en.Family != api.FamilyDashboard || en.Actor != dashboard.ActorStop || en.PID != d.PID || en.Port != port {
			t.Fatalf("journal line %+v, want family dashboard, actor %s, pid %d, port %d", en, dashboard.ActorStop, d.PID, port)
		}
	}
}
