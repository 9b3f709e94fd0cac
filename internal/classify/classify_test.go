package classify

import (
	"slices"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

type classifyCase struct {
	name       string
	ev         Evidence
	scope      Scope
	wantClass  string
	wantReason string
	// wantRow is the SPEC §7 row that must decide the case.
	wantRow int
}

const (
	safe     = api.ClassSafeAuto
	operator = api.ClassOperatorRequired
	never    = api.ClassNeverTouch
)

// classifyCases is the decision table's specification by example. Each row
// of SPEC §7 has at least one case, and the safety-relevant ones several.
func classifyCases() []classifyCase {
	stale := goDaemon(5001, 9401, "3.2.2")
	return []classifyCase{
		// Row 1: the range is checked before anything the process says.
		{"row1/9399 just below sync range", with(stale, func(e *Evidence) { e.Port = 9399 }), here, never, api.SkipOutOfRange, 1},
		{"row1/9450 just above sync range", with(stale, func(e *Evidence) { e.Port = 9450 }), here, never, api.SkipOutOfRange, 1},
		{"row1/9236 just below dashboard range", with(stale, func(e *Evidence) { e.Port = 9236 }), here, never, api.SkipOutOfRange, 1},
		{"row1/9237 first dashboard port", dashboardDaemon(6001, 9237), here, never, api.SkipDashboardFamily, 1},
		{"row1/9336 last dashboard port", dashboardDaemon(6002, 9336), here, never, api.SkipDashboardFamily, 1},
		{"row1/9337 just above dashboard range", dashboardDaemon(6003, 9337), here, never, api.SkipOutOfRange, 1},
		{"row1/our own daemon on a foreign port", with(stale, func(e *Evidence) { e.Port = 8080 }), here, never, api.SkipOutOfRange, 1},
		{"row1/port zero", with(stale, func(e *Evidence) { e.Port = 0 }), here, never, api.SkipOutOfRange, 1},

		// Row 2: another family, whatever else is true.
		{"row2/dashboard health in sync range", dashboardDaemon(6004, 9420), here, never, api.SkipDashboardFamily, 2},
		{"row2/dashboard health behind a sync argv", with(stale, healthBody(dashboardHealthJSON(5001, 9401))), here, never, api.SkipDashboardFamily, 2},
		{"row2/unknown family", with(stale, healthBody(`{"status":"ok","daemon_family":"metrics"}`)), here, never, api.SkipDashboardFamily, 2},
		{"row2/dashboard argv wedged", with(dashboardDaemon(6005, 9421), wedged), here, never, api.SkipDashboardFamily, 2},

		// Row 3: nothing says Spec Kitty.
		{"row3/http server answers 404", Evidence{Port: 9430, PID: 7001, Argv: []string{"/usr/sbin/nginx", "-g", "daemon off;"}, ArgvReadable: true, HTTPAnswered: true}, here, never, api.SkipThirdParty, 3},
		{"row3/silent tcp listener", Evidence{Port: 9431, PID: 7002, Argv: []string{"nc", "-l", "9431"}, ArgvReadable: true}, here, never, api.SkipNotSpecKitty, 3},
		{"row3/other user's listener answers http", Evidence{Port: 9432, HTTPAnswered: true}, here, never, api.SkipThirdParty, 3},
		{"row3/other user's silent listener", Evidence{Port: 9433}, here, never, api.SkipNotSpecKitty, 3},
		{"row3/python http.server", Evidence{Port: 9434, PID: 7003, Argv: []string{pythonExe, "-m", "http.server", "9434"}, ArgvReadable: true, HTTPAnswered: true}, here, never, api.SkipThirdParty, 3},
		{"row3/python -c without run_sync_daemon", Evidence{Port: 9435, PID: 7004, Argv: []string{pythonExe, "-c", "import http.server", markerArg(homeScope)}, ArgvReadable: true}, here, never, api.SkipNotSpecKitty, 3},
		{"row3/generic status ok from unknown process", with(Evidence{Port: 9436, PID: 7005, Argv: []string{"/opt/app/server"}, ArgvReadable: true, HTTPAnswered: true}, healthBody(`{"status":"ok"}`)), here, never, api.SkipThirdParty, 3},
		{"row3/wedged unknown process", with(Evidence{Port: 9437, PID: 7006, Argv: []string{"/opt/app/server"}, ArgvReadable: true}, wedged), here, never, api.SkipNotSpecKitty, 3},

		// Row 4: a self-report is never kill authority.
		{"row4/C-004 spec kitty health from a non-spawn-shaped process", with(stale, argv("/usr/bin/node", "fake-daemon.js", markerArg(homeScope))), here, never, api.SkipThirdParty, 4},
		{"row4/legacy health from a plain python script", with(legacyDaemon(7007, 9438), argv(pythonExe, "/tmp/serve.py", markerArg(homeScope))), here, never, api.SkipThirdParty, 4},
		{"row4/empty argv of a kernel thread", with(stale, argv()), here, never, api.SkipThirdParty, 4},

		// Row 5: the live singleton, even when it is older.
		{"row5/recorded singleton", goDaemon(4000, 9400, currentVer), here, never, api.SkipRecordedSingleton, 5},
		{"row5/recorded singleton of an older version", goDaemon(4000, 9400, "3.2.2"), here, never, api.SkipRecordedSingleton, 5},
		// A recorded daemon that no longer answers health is repairable (SPEC §7).
		{"row5/recorded singleton wedged falls through", with(goDaemon(4000, 9400, currentVer), wedged), here, operator, api.SkipUnresponsive, 9},

		// Row 6: without a pid there is nothing to signal safely.
		{"row6/pid unknown with spec kitty health", with(stale, func(e *Evidence) { e.PID = 0 }, unreadableArgv), here, operator, api.SkipMissingPID, 6},
		{"row6/pid unknown with readable spawn shape", with(stale, func(e *Evidence) { e.PID = 0 }), here, operator, api.SkipMissingPID, 6},
		{"row6/pid unknown legacy health", with(legacyDaemon(0, 9439), unreadableArgv), here, operator, api.SkipMissingPID, 6},
		{"row6/pid unknown on the singleton port", with(goDaemon(4000, 9400, currentVer), func(e *Evidence) { e.PID = 0 }), here, operator, api.SkipMissingPID, 6},

		{"row6/token proof without a pid", with(stale, func(e *Evidence) { e.PID = 0; e.TokenProven = true }, unreadableArgv), here, safe, api.StaleVersion, 6},
		{"row6/token proof of the current version", with(goDaemon(0, 9403, currentVer), func(e *Evidence) { e.TokenProven = true }, unreadableArgv), here, safe, api.DuplicateSameVersion, 6},
		{"row6/token proof of a pre-marker daemon", with(goDaemon(0, 9404, "3.2.2"), func(e *Evidence) { e.TokenProven = true; e.Health.ScopeMarker = "" }, unreadableArgv), here, operator, api.SkipMissingPID, 6},
		{"row6/token proof with another scope's marker", with(goDaemon(0, 9405, "3.2.2"), func(e *Evidence) { e.TokenProven = true; e.Health.ScopeMarker = "/elsewhere/.spec-kitty" }, unreadableArgv), here, operator, api.SkipMissingPID, 6},
		{"row6/token proof ignored when the pid is known", with(stale, func(e *Evidence) { e.TokenProven = true }, argv(goArgv(9401)...)), here, operator, api.SkipPreMarker, 7},
		{"row6/token proof does not beat a dashboard", with(dashboardDaemon(6006, 9422), func(e *Evidence) { e.PID = 0; e.TokenProven = true }), here, never, api.SkipDashboardFamily, 2},

		// Row 7: no marker, no authority.
		{"row7/pre-marker go daemon", with(stale, argv(goArgv(9401)...)), here, operator, api.SkipPreMarker, 7},
		{"row7/legacy python without marker", legacyDaemon(5002, 9402), here, operator, api.SkipPreMarker, 7},
		{"row7/unreadable argv with spec kitty health", with(stale, unreadableArgv), here, operator, api.SkipPreMarker, 7},
		{"row7/empty marker value", with(stale, argv(goArgv(9401, MarkerFlag+"=")...)), here, operator, api.SkipPreMarker, 7},
		{"row7/marker flag without value", with(stale, argv(goArgv(9401, MarkerFlag)...)), here, operator, api.SkipPreMarker, 7},
		{"row7/marker after --", with(stale, argv(goArgv(9401, "--", markerArg(homeScope))...)), here, operator, api.SkipPreMarker, 7},

		// Row 8: another scope's daemon.
		{"row8/FR-003 marker of another root", with(stale, argv(goArgv(9401, markerArg(foreignScope))...)), here, operator, api.SkipCrossRoot, 8},
		{"row8/legacy python of another root", legacyDaemon(5003, 9403, markerArg(foreignScope)), here, operator, api.SkipCrossRoot, 8},
		{"row8/relative marker", with(stale, argv(goArgv(9401, markerArg("."))...)), here, operator, api.SkipCrossRoot, 8},
		{"row8/marker is a parent of the scope", with(stale, argv(goArgv(9401, markerArg("/home/u"))...)), here, operator, api.SkipCrossRoot, 8},
		{"row8/empty scope id authorises nothing", stale, Scope{CurrentVersion: currentVer}, operator, api.SkipCrossRoot, 8},
		{"row8/health claims our scope but argv does not", with(stale, argv(goArgv(9401, markerArg(foreignScope))...)), here, operator, api.SkipCrossRoot, 8},

		// Row 9: not confirmed alive.
		{"row9/wedged", with(stale, wedged), here, operator, api.SkipUnresponsive, 9},
		{"row9/answered but unparseable", with(stale, noHealth), here, operator, api.SkipUnresponsive, 9},
		{"row9/generic status ok from spawn-shaped process", with(stale, healthBody(`{"status":"ok"}`)), here, operator, api.SkipUnresponsive, 9},
		{"row9/legacy keys but typed decode failed", with(legacyDaemon(5004, 9404, markerArg(homeScope)), func(e *Evidence) { e.Health = nil }), here, operator, api.SkipUnresponsive, 9},
		{"row9/wedged flag wins over a stale health", with(stale, func(e *Evidence) { e.Wedged = true }), here, operator, api.SkipUnresponsive, 9},

		// Row 10: the self-report names another listener.
		{"row10/owner pid mismatch", with(stale, func(e *Evidence) { e.Health.Owner.PID = 9999 }), here, operator, api.SkipPIDPortMismatch, 10},
		{"row10/owner port mismatch", with(stale, func(e *Evidence) { e.Health.Owner.Port = 9402 }), here, operator, api.SkipPIDPortMismatch, 10},
		{"row10/owner block without pid", with(stale, func(e *Evidence) { e.Health.Owner.PID = 0 }), here, operator, api.SkipPIDPortMismatch, 10},

		// Row 11: ours, stale or duplicate.
		{"row11/FR-008 older version same scope", stale, here, safe, api.StaleVersion, 11},
		{"row11/same version duplicate", goDaemon(5005, 9405, currentVer), here, safe, api.DuplicateSameVersion, 11},
		{"row11/FR-008 same version other executable", with(goDaemon(5006, 9406, currentVer), argv(goArgv(9406, markerArg(homeScope), execArg("/opt/old/spec-kitty"))...)), here, safe, api.StaleExecutable, 11},
		{"row11/other executable seen by the OS only", with(goDaemon(5007, 9407, currentVer), argv(goArgv(9407, markerArg(homeScope))...), func(e *Evidence) { e.Exe = "/usr/local/bin/spec-kitty (deleted)" }), here, safe, api.StaleExecutable, 11},
		{"row11/other executable in the self-report only", with(goDaemon(5008, 9408, currentVer), argv(goArgv(9408, markerArg(homeScope))...), func(e *Evidence) { e.Exe = ""; e.Health.Owner.ExecutablePath = "/opt/old/spec-kitty" }), here, safe, api.StaleExecutable, 11},
		{"row11/version beats executable as evidence", with(stale, argv(goArgv(9401, markerArg(homeScope), execArg("/opt/old/spec-kitty"))...)), here, safe, api.StaleVersion, 11},
		{"row11/legacy python same scope", legacyDaemon(5009, 9409, markerArg(homeScope), execArg("/usr/local/bin/spec-kitty-py")), here, safe, api.StaleVersion, 11},
		{"row11/legacy python without its own version", with(legacyDaemon(5010, 9410, markerArg(homeScope)), healthBody(`{"status":"ok","token":"x"}`)), here, safe, api.StaleExecutable, 11},
		{"row11/two-arg marker form", with(stale, argv(goArgv(9401, MarkerFlag, homeScope)...)), here, safe, api.StaleVersion, 11},
		{"row11/marker with trailing slash", with(stale, argv(goArgv(9401, markerArg(homeScope+"/"))...)), here, safe, api.StaleVersion, 11},
		{"row11/first port 9400 not the singleton", goDaemon(5011, 9400, "3.2.3"), here, safe, api.StaleVersion, 11},
		{"row11/last port 9449", goDaemon(5012, 9449, "3.2.3"), here, safe, api.StaleVersion, 11},
		{"row11/singleton pid on another port is not the singleton", goDaemon(4000, 9411, currentVer), here, safe, api.DuplicateSameVersion, 11},
		{"row11/no recorded singleton", stale, Scope{ID: homeScope, CurrentVersion: currentVer, CurrentExe: currentExe}, safe, api.StaleVersion, 11},
		{"row11/current version unknown is no version evidence", goDaemon(5013, 9413, "3.2.2"), Scope{ID: homeScope, CurrentExe: currentExe}, safe, api.DuplicateSameVersion, 11},
	}
}

func TestClassify_FR002_DecisionTable(t *testing.T) {
	for _, tc := range classifyCases() {
		t.Run(tc.name, func(t *testing.T) {
			rec := Classify(tc.ev, tc.scope)
			if rec.CleanupClass != tc.wantClass || rec.Reason != tc.wantReason {
				t.Errorf("Classify = (%s, %s), want (%s, %s)", rec.CleanupClass, rec.Reason, tc.wantClass, tc.wantReason)
			}
			if row, _, _ := decide(newFacts(tc.ev, tc.scope)); row != tc.wantRow {
				t.Errorf("decided by row %d, want row %d", row, tc.wantRow)
			}
		})
	}
}

// TestClassify_EveryRowReachable guards the table of cases itself: a row
// without a case is a row nobody has shown to work.
func TestClassify_EveryRowReachable(t *testing.T) {
	hit := map[int]bool{}
	for _, tc := range classifyCases() {
		hit[tc.wantRow] = true
	}
	for _, r := range table {
		if !hit[r.id] {
			t.Errorf("SPEC §7 row %d has no case", r.id)
		}
	}
	ids := map[int]bool{}
	for _, r := range table {
		ids[r.id] = true
	}
	if len(ids) != 11 {
		t.Errorf("table has %d rows, SPEC §7 has 11", len(ids))
	}
}

// TestClassify_Invariants checks SPEC §6's invariants on every case, and
// that owner.json is reporting only (FR-003).
func TestClassify_Invariants(t *testing.T) {
	for _, tc := range classifyCases() {
		for _, owner := range []bool{false, true} {
			ev := tc.ev
			ev.OwnerPresent = owner
			rec := Classify(ev, tc.scope)
			checkInvariants(t, tc.name, ev, rec)
			if rec.CleanupClass != tc.wantClass || rec.Reason != tc.wantReason {
				t.Errorf("%s: owner_present=%v changed the result to (%s, %s)", tc.name, owner, rec.CleanupClass, rec.Reason)
			}
			if rec.OwnerPresent != owner {
				t.Errorf("%s: owner_present = %v, want %v", tc.name, rec.OwnerPresent, owner)
			}
		}
	}
}

// TestClassify_FR003_OwnerRecordIsNotAuthority: owner.json naming a
// listener gives it no class it would not have without.
func TestClassify_FR003_OwnerRecordIsNotAuthority(t *testing.T) {
	third := Evidence{Port: 9440, PID: 7100, Argv: []string{"/opt/app/server"}, ArgvReadable: true, HTTPAnswered: true, OwnerPresent: true}
	if rec := Classify(third, here); rec.CleanupClass != never {
		t.Errorf("third party named by owner.json: class %s, want never_touch", rec.CleanupClass)
	}
	preMarker := with(goDaemon(5020, 9420, "3.2.2"), argv(goArgv(9420)...), func(e *Evidence) { e.OwnerPresent = true })
	if rec := Classify(preMarker, here); rec.CleanupClass != operator {
		t.Errorf("pre-marker daemon named by owner.json: class %s, want operator_required", rec.CleanupClass)
	}
}

var validClasses = []string{safe, operator, never}

var staleReasons = []string{api.StaleVersion, api.StaleExecutable, api.DuplicateSameVersion}

// checkInvariants asserts what must hold for any evidence at all; the fuzz
// target shares it.
func checkInvariants(t testing.TB, name string, ev Evidence, rec api.IdentityRecord) {
	t.Helper()
	if !slices.Contains(validClasses, rec.CleanupClass) {
		t.Fatalf("%s: class %q is not a cleanup class", name, rec.CleanupClass)
	}
	if (rec.SkipReason == nil) != (rec.CleanupClass == safe) {
		t.Fatalf("%s: skip_reason %v with class %s: must be null iff safe_auto", name, rec.SkipReason, rec.CleanupClass)
	}
	if rec.SkipReason != nil && *rec.SkipReason != rec.Reason {
		t.Fatalf("%s: reason %q differs from skip_reason %q", name, rec.Reason, *rec.SkipReason)
	}
	if rec.CleanupClass == safe && !slices.Contains(staleReasons, rec.Reason) {
		t.Fatalf("%s: safe_auto with reason %q, want stale evidence", name, rec.Reason)
	}
	if !api.SyncRange.Contains(ev.Port) && rec.CleanupClass != never {
		t.Fatalf("%s: port %d outside the sync range classed %s", name, ev.Port, rec.CleanupClass)
	}
	if h := ev.Health; h != nil && h.DaemonFamily != "" && h.DaemonFamily != api.FamilySync && rec.CleanupClass != never {
		t.Fatalf("%s: family %q classed %s", name, h.DaemonFamily, rec.CleanupClass)
	}
	tokenOnly := ev.PID <= 0 && ev.TokenProven && rec.IdentitySource == api.SourceTokenProof
	if rec.CleanupClass == safe && rec.PID == nil && !tokenOnly {
		t.Fatalf("%s: safe_auto without a pid and without token proof: %+v", name, ev)
	}
	if rec.CleanupClass == safe && !tokenOnly && (ev.PID <= 0 || !rec.SpawnShapeOK || rec.IsRecordedSingleton || ev.Health == nil || ev.Wedged) {
		t.Fatalf("%s: safe_auto without full evidence: %+v", name, ev)
	}
	if rec.Port != ev.Port || rec.OwnerPresent != ev.OwnerPresent {
		t.Fatalf("%s: record port/owner_present (%d, %v) differ from evidence (%d, %v)", name, rec.Port, rec.OwnerPresent, ev.Port, ev.OwnerPresent)
	}
}
