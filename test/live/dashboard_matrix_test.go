//go:build linux

package live

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/dashboard"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The boundary matrix (SPEC §8, §14; NFR-001/002/003, AS-6, C-001/C-002):
// every cleanup entrypoint × every kind of listener × the first, last and
// just-outside ports of both ranges. Dashboards survive every sync cleanup,
// sync daemons survive every dashboard cleanup, third-party listeners are
// never killed, and nothing outside a family's range is ever signalled —
// checked from the processes and from cleanup-journal.jsonl.

// dashKind is what a listener of the matrix is.
type dashKind string

const (
	kindSyncLive   dashKind = "live sync daemon"          // recorded by its scope
	kindSyncStale  dashKind = "orphaned sync daemon"      // this scope, older version
	kindSyncCross  dashKind = "other scope's sync daemon" // live in its own scope
	kindDashLive   dashKind = "live dashboard"            // recorded by its project
	kindDashOrphan dashKind = "orphaned dashboard"        // project gone or not recording it
	kindThirdParty dashKind = "third-party listener"      // not Spec Kitty at all
	kindFakeHealth dashKind = "third party faking health" // Spec Kitty health, foreign argv
)

// dashListener is one real process on one real port.
type dashListener struct {
	kind dashKind
	port int
	proc *testenv.Proc
}

func (l dashListener) String() string {
	return fmt.Sprintf("%s on %d (pid %d)", l.kind, l.port, l.proc.PID)
}

// dashEntry is one cleanup entrypoint.
type dashEntry struct {
	name   string
	family string
	actor  string
	// liveSyncInOtherScope: the live sync daemon belongs to another scope,
	// because a recorded healthy daemon of this scope and version is
	// reused and the startup reaper would not run at all.
	liveSyncInOtherScope bool
	// run runs the entrypoint and returns the ports it reports as swept.
	run func(t *testing.T, e *testenv.Env) []int
	// sweeps says which listeners the entrypoint must stop.
	sweeps func(l dashListener) bool
}

func staleInSyncRange(l dashListener) bool {
	return l.kind == kindSyncStale && api.SyncRange.Contains(l.port)
}

var dashEntries = []dashEntry{
	{
		name: "startup reaper (sync start)", family: api.FamilySync, actor: cleanup.ActorStartupReaper,
		liveSyncInOtherScope: true,
		run: func(t *testing.T, e *testenv.Env) []int {
			var res api.StartResult
			e.MustJSON(&res, "sync", "start", "--json")
			if !res.Started {
				t.Fatalf("sync start = %+v, want a started daemon", res)
			}
			var ports []int
			for _, s := range res.Reaped {
				ports = append(ports, s.Port)
			}
			return ports
		},
		sweeps: staleInSyncRange,
	},
	{
		name: "auth doctor --reset", family: api.FamilySync, actor: cleanup.ActorDoctorReset,
		run:    func(t *testing.T, e *testenv.Env) []int { return dashDoctorReset(t, e, "--reset") },
		sweeps: staleInSyncRange,
	},
	{
		name: "auth doctor --reset --force", family: api.FamilySync, actor: cleanup.ActorDoctorReset,
		run: func(t *testing.T, e *testenv.Env) []int { return dashDoctorReset(t, e, "--reset", "--force") },
		sweeps: func(l dashListener) bool {
			return (l.kind == kindSyncStale || l.kind == kindSyncCross) && api.SyncRange.Contains(l.port)
		},
	},
	{
		name: "dashboard startup cleanup", family: api.FamilyDashboard, actor: cleanup.ActorDashboardStart,
		run: func(t *testing.T, e *testenv.Env) []int {
			res := dashStart(t, e, e.NewProject())
			if res.Reused || res.Cleanup == nil || len(res.Cleanup.Failed) != 0 {
				t.Fatalf("dashboard = %+v, want a new dashboard and a cleanup without failures", res)
			}
			var ports []int
			for _, s := range res.Cleanup.Swept {
				ports = append(ports, s.Port)
			}
			return ports
		},
		sweeps: func(l dashListener) bool {
			return l.kind == kindDashOrphan && api.DashboardRange.Contains(l.port)
		},
	},
}

func dashDoctorReset(t *testing.T, e *testenv.Env, args ...string) []int {
	t.Helper()
	r := e.Run(append([]string{"auth", "doctor", "--json"}, args...)...)
	var rep api.DoctorReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 || rep.ResetResult == nil {
		t.Fatalf("auth doctor %v: exit %d, %v\n%s\n%s", args, r.Code, err, r.Stdout, r.Stderr)
	}
	if len(rep.ResetResult.Failed) != 0 {
		t.Fatalf("auth doctor %v failed: %+v", args, rep.ResetResult.Failed)
	}
	var ports []int
	for _, s := range rep.ResetResult.Swept {
		ports = append(ports, s.Port)
	}
	return ports
}

// dashSpot is one place of a layout.
type dashSpot struct {
	port int
	kind dashKind
	// version of a stale sync daemon; how an orphaned dashboard is orphaned.
	detail string
}

// Orphaned dashboards are made three ways.
const (
	orphanProjectGone  = "project gone"
	orphanNamesAnother = "record names another"
	orphanNotRecorded  = "not recorded"
)

// Inside both ranges, whatever the edges hold: a sync daemon listening in
// the dashboard range, a dashboard listening in the sync range, programs
// faking each family's health, and another scope's live sync daemon.
var dashInner = []dashSpot{
	{9300, kindSyncStale, "3.2.3"},
	{9310, kindFakeHealth, api.FamilyDashboard},
	{9420, kindDashOrphan, orphanProjectGone},
	{9430, kindFakeHealth, api.FamilySync},
	{9410, kindSyncCross, ""},
}

var dashLayouts = []struct {
	name  string
	spots []dashSpot
}{
	{"strangers at the edges", []dashSpot{
		{9236, kindThirdParty, "http"},
		{9237, kindDashLive, ""},
		{9336, kindDashOrphan, orphanProjectGone},
		{9337, kindFakeHealth, api.FamilyDashboard},
		{9399, kindFakeHealth, api.FamilySync},
		{9400, kindSyncLive, ""},
		{9449, kindSyncStale, "3.2.2"},
		{9450, kindThirdParty, "silent"},
	}},
	{"ours just outside the edges", []dashSpot{
		{9236, kindDashOrphan, orphanProjectGone},
		{9237, kindDashOrphan, orphanNamesAnother},
		{9336, kindDashLive, ""},
		{9337, kindDashOrphan, orphanNotRecorded},
		{9399, kindSyncStale, "3.2.2"},
		{9400, kindSyncStale, "3.2.3"},
		{9449, kindSyncLive, ""},
		{9450, kindSyncStale, "3.2.4"},
	}},
}

func TestDashboard_NFR001_BoundaryMatrix(t *testing.T) {
	for _, layout := range dashLayouts {
		for _, entry := range dashEntries {
			t.Run(layout.name+"/"+entry.name, func(t *testing.T) {
				dashRunMatrixCell(t, entry, append(slices.Clone(layout.spots), dashInner...))
			})
		}
	}
}

func dashRunMatrixCell(t *testing.T, entry dashEntry, spots []dashSpot) {
	dashRunMatrixCellWith(t, entry, spots, "")
}

// dashRunMatrixCellWith runs one cell with a listener source ("" is the
// default).
func dashRunMatrixCellWith(t *testing.T, entry dashEntry, spots []dashSpot, source string) {
	e := testenv.New(t)
	useSource(e, source)
	other := testenv.New(t)
	for _, s := range spots {
		testenv.RequireFree(t, s.port)
	}
	var ls []dashListener
	for _, s := range spots {
		ls = append(ls, dashListener{kind: s.kind, port: s.port, proc: dashSpawn(t, e, other, entry, s)})
	}

	reported := entry.run(t, e)

	var want, sweptPIDs []int
	for _, l := range ls {
		if entry.sweeps(l) {
			want = append(want, l.port)
			sweptPIDs = append(sweptPIDs, l.proc.PID)
		}
	}
	slices.Sort(reported)
	slices.Sort(want)
	if !slices.Equal(reported, want) {
		t.Errorf("%s reported swept ports %v, want exactly %v", entry.name, reported, want)
	}
	for _, l := range ls {
		if entry.sweeps(l) {
			if !l.proc.WaitExit(10 * time.Second) {
				t.Errorf("%s left %s running", entry.name, l)
			}
			continue
		}
		if l.proc.Exited() || !procinfo.Alive(l.proc.PID) {
			t.Errorf("%s killed %s", entry.name, l)
		} else if !testenv.Listening(l.port) {
			t.Errorf("%s: %s no longer listens", entry.name, l)
		}
	}
	dashCheckJournal(t, e, entry, sweptPIDs)
}

// dashCheckJournal: every line is the entrypoint's own family and actor,
// inside the family's range, and about a process it was meant to stop;
// every stopped process has its lines.
func dashCheckJournal(t *testing.T, e *testenv.Env, entry dashEntry, sweptPIDs []int) {
	t.Helper()
	entries, err := cleanup.ReadJournal(e.Path("cleanup-journal.jsonl"))
	if err != nil {
		t.Fatalf("reading journal: %v", err)
	}
	r, _ := api.RangeOf(entry.family)
	seen := map[int]bool{}
	for _, en := range entries {
		switch {
		case en.Family != entry.family:
			t.Errorf("journal line of family %q from %s: %+v", en.Family, entry.name, en)
		case !r.Contains(en.Port):
			t.Errorf("journal line outside the %s range [%d, %d): %+v", entry.family, r.Lo, r.Hi, en)
		case en.Actor != entry.actor:
			t.Errorf("journal line of actor %q, want %q: %+v", en.Actor, entry.actor, en)
		case !slices.Contains(sweptPIDs, en.PID):
			t.Errorf("journal line about pid %d, which %s must not touch: %+v", en.PID, entry.name, en)
		}
		seen[en.PID] = true
	}
	for _, pid := range sweptPIDs {
		if !seen[pid] {
			t.Errorf("pid %d was stopped but the journal has no line about it", pid)
		}
	}
}

// dashSpawn starts the real process of one spot.
func dashSpawn(t *testing.T, e, other *testenv.Env, entry dashEntry, s dashSpot) *testenv.Proc {
	t.Helper()
	switch s.kind {
	case kindSyncLive:
		owner := e
		if entry.liveSyncInOtherScope {
			owner = other
		}
		p := owner.SpawnDaemon(testenv.DaemonOpts{Port: s.port})
		rec := statefile.Record{URL: client.URL(s.port), Port: s.port, Token: p.Token, PID: p.PID}
		if err := statefile.Write(owner.Path("sync-daemon"), rec); err != nil {
			t.Fatal(err)
		}
		return p
	case kindSyncStale:
		return e.SpawnDaemon(testenv.DaemonOpts{Port: s.port, Version: s.detail})
	case kindSyncCross:
		return other.SpawnDaemon(testenv.DaemonOpts{Port: s.port})
	case kindDashLive:
		return e.SpawnDashboard(testenv.DashboardOpts{Port: s.port, Record: true})
	case kindDashOrphan:
		return dashOrphan(t, e, s)
	case kindFakeHealth:
		if s.detail == api.FamilyDashboard {
			return e.ThirdPartyHTTP(s.port, `{"status":"ok","daemon_family":"dashboard","protocol_version":1,`+
				`"package_version":"3.3.0","project_path":"/nonexistent/spec-kitty-gone-project"}`)
		}
		return e.ThirdPartyHTTP(s.port, fmt.Sprintf(`{"status":"ok","daemon_family":"sync","singleton_scope_id":%q,`+
			`"protocol_version":1,"package_version":"3.2.2"}`, e.Home))
	case kindThirdParty:
		if s.detail == "silent" {
			return e.SilentTCP(s.port)
		}
		return e.ThirdPartyHTTP(s.port, "hello from somebody else's server")
	}
	t.Fatalf("unknown kind %q", s.kind)
	return nil
}

func dashOrphan(t *testing.T, e *testenv.Env, s dashSpot) *testenv.Proc {
	t.Helper()
	proj := e.NewProject()
	switch s.detail {
	case orphanNamesAnother:
		p := e.SpawnDashboard(testenv.DashboardOpts{Port: s.port, Project: proj})
		rec := statefile.Record{URL: client.URL(9299), Port: 9299, Token: "another", PID: os.Getpid()}
		if err := os.MkdirAll(proj+"/"+dashboard.MetaDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := statefile.Write(dashboard.StateFile(proj), rec); err != nil {
			t.Fatal(err)
		}
		return p
	case orphanProjectGone:
		p := e.SpawnDashboard(testenv.DashboardOpts{Port: s.port, Project: proj, Record: true})
		if err := os.RemoveAll(proj); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return e.SpawnDashboard(testenv.DashboardOpts{Port: s.port, Project: proj})
}
