//go:build linux

package live

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// TestReaper_NFR004_VersionMatrix18 is the machine of SPEC §1 (issue 4):
// 18 same-scope daemons of 3.2.2, 3.2.3 and 3.2.4; one `sync start` of
// 3.3.0 stops all of them, reports exactly them, and leaves one daemon that
// the next start reuses.
func TestReaper_NFR004_VersionMatrix18(t *testing.T) { eachSource(t, lsofToo, versionMatrix18) }

func versionMatrix18(t *testing.T, source string) {
	e := testenv.New(t)
	useSource(e, source)
	ports := testenv.FreePorts(t, api.SyncRange, 18)
	versions := []string{"3.2.2", "3.2.3", "3.2.4"}
	want := map[int]int{} // pid → port
	for i, port := range ports {
		p := e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: versions[i%len(versions)]})
		want[p.PID] = port
	}

	e.Vars["SPEC_KITTY_CLI_VERSION"] = "3.3.0"
	res := start(t, e)
	if !res.Started || res.PackageVersion != "3.3.0" {
		t.Fatalf("sync start = %+v, want a fresh 3.3.0 daemon", res)
	}
	got := map[int]int{}
	for _, r := range res.Reaped {
		got[r.PID] = r.Port
		if r.CleanupClass != api.ClassSafeAuto || r.Reason != api.StaleVersion || r.CleanupPath != api.PathHTTPShutdown {
			t.Errorf("reaped %+v, want safe_auto/stale_version via http_shutdown", r)
		}
	}
	if len(res.Reaped) != 18 || !maps.Equal(got, want) {
		t.Fatalf("reaped %d entries %v, want exactly the 18 daemons %v", len(res.Reaped), got, want)
	}
	mustGone(t, "after sync start", slices.Collect(maps.Keys(want))...)
	assertOneDaemon(t, e, res.PID)

	again := start(t, e)
	if again.Started || !again.Reused || again.PID != res.PID || len(again.Reaped) != 0 {
		t.Fatalf("second start = %+v, want reuse of pid %d", again, res.PID)
	}
	assertOneDaemon(t, e, res.PID)
	journal := e.Journal()
	if len(journal) != 18 {
		t.Errorf("journal has %d lines, want one shutdown request per daemon: %+v", len(journal), journal)
	}
	for _, j := range journal {
		if want[j.PID] != j.Port || j.Step != api.PathHTTPShutdown || j.Actor != "startup_reaper" {
			t.Errorf("journal line %+v is not a startup shutdown request to one of the 18", j)
		}
	}
}

// TestReaper_FR012_SameHomeDuplicatesLeaveOneDaemon reconfirms the
// same-HOME singleton leak (upstream issue 1071): duplicates of the recorded
// daemon in one scope, that the state file does not name, do not outlive
// the next `sync start`, which reuses the recorded one.
func TestReaper_FR012_SameHomeDuplicatesLeaveOneDaemon(t *testing.T) {
	e := testenv.New(t)
	e.Vars[envTick] = "3600" // the duplicates must not retire on their own
	first := start(t, e)
	var dups []int
	for _, port := range testenv.FreePorts(t, api.SyncRange, 3) {
		dups = append(dups, e.SpawnDaemon(testenv.DaemonOpts{Port: port}).PID)
	}
	slices.Sort(dups)
	if got := e.ScopeDaemons(); len(got) != 4 {
		t.Fatalf("scope daemons before: %v, want 4", got)
	}

	again := start(t, e)
	if again.Started || !again.Reused || again.PID != first.PID {
		t.Fatalf("sync start = %+v, want reuse of the recorded pid %d", again, first.PID)
	}
	var reaped []int
	for _, r := range again.Reaped {
		reaped = append(reaped, r.PID)
		if r.Reason != api.DuplicateSameVersion || r.CleanupClass != api.ClassSafeAuto {
			t.Errorf("reaped %+v, want a safe_auto duplicate_same_version", r)
		}
	}
	slices.Sort(reaped)
	if !slices.Equal(reaped, dups) {
		t.Errorf("reaped pids %v, want the duplicates %v", reaped, dups)
	}
	mustGone(t, "after sync start", dups...)
	assertOneDaemon(t, e, first.PID)
	e.Journal()
}

// TestReset_AS2_AmbiguousSurviveStartupNeedForce: pre-marker, cross-root and
// wedged daemons are operator_required. No `sync start` touches them;
// `--reset` without --force skips them with their reasons and names the
// command that would stop them; `--reset --force` stops them.
func TestReset_AS2_AmbiguousSurviveStartupNeedForce(t *testing.T) {
	eachSource(t, lsofToo, ambiguousSurviveStartupNeedForce)
}

func ambiguousSurviveStartupNeedForce(t *testing.T, source string) {
	e := testenv.New(t)
	useSource(e, source)
	e.Vars[envTick] = "3600"
	other := testenv.New(t)
	ports := testenv.FreePorts(t, api.SyncRange, 3)
	pre := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0], Version: "3.2.2", Root: testenv.Ptr("")})
	cross := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1], Version: "3.2.3", Root: &other.Home, Home: other.Home})
	wedged := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[2], Version: "3.2.4"})
	wedged.Wedge(t)
	amb := []*testenv.Proc{pre, cross, wedged}
	reason := map[int]string{pre.Port: api.SkipPreMarker, cross.Port: api.SkipCrossRoot, wedged.Port: api.SkipUnresponsive}

	// Every start path: spawn (reaper runs), reuse, and spawn again after a
	// stop (the reaper runs again).
	first := start(t, e)
	if !first.Started || len(first.Reaped) != 0 {
		t.Fatalf("first start = %+v, want a spawn that reaps nothing", first)
	}
	mustAlive(t, "after the first sync start", amb...)
	if again := start(t, e); !again.Reused || again.PID != first.PID {
		t.Fatalf("second start = %+v, want reuse", again)
	}
	mustAlive(t, "after a reusing sync start", amb...)
	if res := e.Run("sync", "stop"); res.Code != 0 {
		t.Fatalf("sync stop: %d %s", res.Code, res.Stderr)
	}
	third := start(t, e)
	if !third.Started || len(third.Reaped) != 0 {
		t.Fatalf("start after stop = %+v, want a spawn that reaps nothing", third)
	}
	mustAlive(t, "after sync start following a stop", amb...)

	rep, _ := doctorJSON(t, e, 0, "--reset")
	rr := mineOnly(rep.ResetResult, ports)
	if len(rr.Swept) != 0 || len(rr.Failed) != 0 || len(rr.Skipped) != 3 {
		t.Fatalf("--reset = %+v, want the three skipped", rr)
	}
	for _, s := range rr.Skipped {
		if s.CleanupClass != api.ClassOperatorRequired || s.SkipReason != reason[s.Port] || s.PID == nil {
			t.Errorf("skipped %+v, want operator_required/%s", s, reason[s.Port])
		}
	}
	mustAlive(t, "after --reset", amb...)

	human := e.Run("auth", "doctor", "--reset")
	if human.Code != 0 {
		t.Fatalf("auth doctor --reset: exit %d %s", human.Code, human.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(human.Stdout), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "spec-kitty auth doctor --reset --force") {
		t.Errorf("human --reset output does not end with the --force hint; last line %q\n%s", last, human.Stdout)
	}
	for _, p := range amb {
		if !strings.Contains(human.Stdout, "skipped pid "+itoa(p.PID)+" port "+itoa(p.Port)) {
			t.Errorf("human output has no skipped line for pid %d:\n%s", p.PID, human.Stdout)
		}
	}
	mustAlive(t, "after human --reset", amb...)
	for _, j := range e.Journal() {
		if j.Actor != cleanup.ActorSyncStop {
			t.Errorf("--reset without --force signalled something: %+v", j)
		}
	}

	guardForce(t, e, ports...)
	rep, _ = doctorJSON(t, e, 0, "--reset", "--force")
	rr = mineOnly(rep.ResetResult, ports)
	if len(rr.Swept) != 3 || len(rr.Skipped) != 0 || len(rr.Failed) != 0 {
		t.Fatalf("--reset --force = %+v, want the three swept", rr)
	}
	// The pre-marker daemon shares this scope's records, so it is asked
	// politely; the cross-root one is not ours to ask; the wedged one
	// ignores everything but SIGKILL.
	path := map[int]string{pre.Port: api.PathHTTPShutdown, cross.Port: api.PathTerminate, wedged.Port: api.PathKill}
	for _, s := range rr.Swept {
		if s.CleanupClass != api.ClassOperatorRequired || s.Reason != reason[s.Port] || s.CleanupPath != path[s.Port] {
			t.Errorf("swept %+v, want operator_required/%s via %s", s, reason[s.Port], path[s.Port])
		}
	}
	mustGone(t, "after --reset --force", pre.PID, cross.PID, wedged.PID)
	if !procinfo.Alive(third.PID) {
		t.Errorf("the recorded singleton pid %d died", third.PID)
	}
	steps := map[int][]string{}
	for _, j := range e.Journal() {
		steps[j.Port] = append(steps[j.Port], j.Step)
	}
	if !slices.Contains(steps[wedged.Port], api.PathKill) || slices.Contains(steps[pre.Port], api.PathKill) {
		t.Errorf("journal steps %v do not show the escalation", steps)
	}
}

// TestReset_AS4_ExactResult: with safe_auto, operator_required and
// never_touch listeners side by side, `--reset` reports exactly what
// happened to each pid and port: swept ones are dead, skipped ones alive,
// none dropped, and never_touch ones in no list and alive.
func TestReset_AS4_ExactResult(t *testing.T) { eachSource(t, lsofToo, exactResult) }

func exactResult(t *testing.T, source string) {
	e := testenv.New(t)
	useSource(e, source)
	e.Vars[envTick] = "3600"
	other := testenv.New(t)
	single := start(t, e)
	ports := testenv.FreePorts(t, api.SyncRange, 8)
	safe := []*testenv.Proc{
		e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0], Version: "3.2.2"}),
		e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1], Version: "3.2.4"}),
		e.SpawnDaemon(testenv.DaemonOpts{Port: ports[2]}),
	}
	ops := []*testenv.Proc{
		e.SpawnDaemon(testenv.DaemonOpts{Port: ports[3], Version: "3.2.3", Root: testenv.Ptr("")}),
		e.SpawnDaemon(testenv.DaemonOpts{Port: ports[4], Version: "3.2.3", Root: &other.Home, Home: other.Home}),
		e.SpawnDaemon(testenv.DaemonOpts{Port: ports[5], Version: "3.2.2"}),
	}
	ops[2].Wedge(t)
	never := []*testenv.Proc{e.ThirdPartyHTTP(ports[6], "hello"), e.SilentTCP(ports[7])}
	mine := append(slices.Clone(ports), single.Port)

	rep, _ := doctorJSON(t, e, 0, "--reset")
	wantSource(t, rep, source)
	rr := rep.ResetResult
	if rr == nil {
		t.Fatal("no reset_result")
	}
	recs := byPort(rep)

	// None dropped, none invented: every orphan of the scan is in exactly
	// one list, and every entry is an orphan of the scan.
	listed := map[int]int{}
	for _, s := range rr.Swept {
		listed[s.Port]++
	}
	for _, s := range rr.Skipped {
		listed[s.Port]++
	}
	for _, f := range rr.Failed {
		listed[f.Port]++
	}
	for _, o := range rep.Orphans {
		if listed[o.Port] != 1 {
			t.Errorf("orphan on port %d appears %d times in reset_result", o.Port, listed[o.Port])
		}
	}
	if len(listed) != len(rep.Orphans) {
		t.Errorf("reset_result names %d ports, the scan had %d orphans", len(listed), len(rep.Orphans))
	}

	own := mineOnly(rr, mine)
	if len(own.Swept) != len(safe) || len(own.Skipped) != len(ops) || len(own.Failed) != 0 {
		t.Fatalf("reset_result for this test's ports = %+v, want %d swept, %d skipped", own, len(safe), len(ops))
	}
	swept := map[int]api.SweptEntry{}
	for _, s := range own.Swept {
		swept[s.PID] = s
	}
	for _, p := range safe {
		s, ok := swept[p.PID]
		r := recs[p.Port]
		switch {
		case !ok:
			t.Errorf("safe_auto pid %d not in swept %+v", p.PID, own.Swept)
		case s.Port != p.Port || s.CleanupClass != api.ClassSafeAuto || s.Reason != r.Reason ||
			!samePtr(s.PackageVersion, r.PackageVersion) || !samePtr(s.ProtocolVersion, r.ProtocolVersion):
			t.Errorf("swept %+v does not match its record %+v", s, r)
		case !testenv.WaitExited(p.PID, 0) || testenv.Listening(p.Port):
			t.Errorf("swept pid %d on port %d is still there", p.PID, p.Port)
		}
	}
	skipped := map[int]api.SkippedEntry{}
	for _, s := range own.Skipped {
		skipped[s.Port] = s
	}
	for _, p := range ops {
		s, ok := skipped[p.Port]
		r := recs[p.Port]
		switch {
		case !ok:
			t.Errorf("operator_required port %d not in skipped %+v", p.Port, own.Skipped)
		case s.PID == nil || *s.PID != p.PID || s.CleanupClass != api.ClassOperatorRequired || s.SkipReason != *r.SkipReason:
			t.Errorf("skipped %+v does not match its record %+v", s, r)
		}
	}
	mustAlive(t, "skipped by --reset", ops...)
	mustAlive(t, "never_touch during --reset", never...)
	for _, port := range []int{single.Port, never[0].Port, never[1].Port} {
		if listed[port] != 0 {
			t.Errorf("never_touch port %d appears in reset_result", port)
		}
	}
	if !procinfo.Alive(single.PID) {
		t.Errorf("recorded singleton pid %d died", single.PID)
	}
	for _, j := range e.Journal() {
		if _, ok := swept[j.PID]; !ok {
			t.Errorf("journal line for pid %d, which was not swept: %+v", j.PID, j)
		}
	}

	// The next scan agrees: the swept ports are empty, the rest unchanged.
	after, _ := doctorJSON(t, e, 0)
	now := byPort(after)
	for _, p := range safe {
		if _, ok := now[p.Port]; ok {
			t.Errorf("port %d of swept pid %d still has a listener", p.Port, p.PID)
		}
	}
	for _, p := range append(slices.Clone(ops), never...) {
		if r, ok := now[p.Port]; !ok || r.CleanupClass != recs[p.Port].CleanupClass {
			t.Errorf("port %d changed after --reset: %+v", p.Port, r)
		}
	}
}

// TestReset_FailedForeignUserNeverSignalled is the failed[] path with a real
// failure (SPEC §8): a sync daemon of another user is in range; `--reset
// --force` includes it, the pre-signal check refuses to signal another
// user's process, the entry lands in failed[] with the reason, the exit
// status is 1, the process lives and the journal has no line for it.
func TestReset_FailedForeignUserNeverSignalled(t *testing.T) {
	testenv.RequireRoot(t)
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	p, _ := e.SpawnDaemonAs(port, 65534, 65534)

	rep, _ := doctorJSON(t, e, 0)
	r := wantClass(t, byPort(rep), "another user's daemon", port, api.ClassOperatorRequired, api.SkipCrossRoot)
	if r.PID == nil || *r.PID != p.PID {
		t.Fatalf("record pid %v, want %d", r.PID, p.PID)
	}

	guardForce(t, e, port)
	rep, res := doctorJSON(t, e, 1, "--reset", "--force")
	if err := validate(compileSchema(t), res.Stdout); err != nil {
		t.Errorf("failed[] output does not match the schema: %v", err)
	}
	rr := mineOnly(rep.ResetResult, []int{port})
	if len(rr.Failed) != 1 || len(rr.Swept) != 0 || len(rr.Skipped) != 0 {
		t.Fatalf("reset_result = %+v, want one failed entry", rr)
	}
	f := rr.Failed[0]
	if f.PID == nil || *f.PID != p.PID || f.CleanupClass != api.ClassOperatorRequired || !strings.Contains(f.FailureReason, "uid 65534") {
		t.Errorf("failed entry %+v does not name the other user", f)
	}
	mustAlive(t, "after --reset --force", p)
	if j := e.Journal(); len(j) != 0 {
		t.Errorf("something was sent to another user's process: %+v", j)
	}

	human := e.Run("auth", "doctor", "--reset", "--force")
	if human.Code != 1 || !strings.Contains(human.Stdout, "failed  pid "+itoa(p.PID)+" port "+itoa(port)) ||
		!strings.Contains(human.Stdout, "0 swept, 0 skipped, 1 failed") {
		t.Errorf("human --reset --force: exit %d, want 1 and a failed line:\n%s%s", human.Code, human.Stdout, human.Stderr)
	}
	mustAlive(t, "after human --reset --force", p)
}

func samePtr[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
