//go:build linux

package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/third_party/jsonschema"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// envTick is the daemons' retirement tick. Tests that prove a daemon
// survives a cleanup set it far beyond their own run, so a survivor is never
// explained away by self-retirement (a different mechanism, SPEC §9).
const envTick = "SPEC_KITTY_DAEMON_TICK_SECONDS"

// recordKeys are the keys SPEC §6 requires in every identity record.
var recordKeys = []string{
	"daemon_family", "pid", "port", "protocol_version", "package_version",
	"singleton_scope_id", "daemon_root", "queue_db_path", "auth_scope", "server_url",
	"owner_present", "identity_source", "executable_summary", "spawn_shape_ok",
	"self_report_matches_listener", "is_recorded_singleton", "cleanup_class", "skip_reason",
}

// doctorJSON runs `auth doctor --json` with extra flags, requires exit
// status want and returns the decoded report and the raw result.
func doctorJSON(t *testing.T, e *testenv.Env, want int, extra ...string) (api.DoctorReport, testenv.Result) {
	t.Helper()
	args := append([]string{"auth", "doctor", "--json"}, extra...)
	res := e.Run(args...)
	if res.Code != want {
		t.Fatalf("spec-kitty %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, res.Code, want, res.Stdout, res.Stderr)
	}
	var rep api.DoctorReport
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("spec-kitty %v: stdout is not JSON: %v\n%s", args, err, res.Stdout)
	}
	checkReportShape(t, rep, res.Stdout)
	return rep, res
}

// checkReportShape asserts what every report must satisfy (SPEC §6, §12):
// schema_version 2, every §6 key present in every record, no record outside
// the range, orphans = safe_auto + operator_required, other_listeners =
// never_touch, skip_reason null iff safe_auto, one record per port, and a
// remediation command on every finding.
func checkReportShape(t *testing.T, rep api.DoctorReport, stdout string) {
	t.Helper()
	if rep.SchemaVersion != 2 {
		t.Errorf("schema_version = %d, want 2", rep.SchemaVersion)
	}
	if rep.Platform.OS != runtime.GOOS || rep.Platform.ListenerSource == "" {
		t.Errorf("platform = %+v, want os %s and the listener source used", rep.Platform, runtime.GOOS)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, list := range []string{"orphans", "other_listeners"} {
		items, ok := raw[list].([]any)
		if !ok {
			t.Fatalf("%s is not an array: %v", list, raw[list])
		}
		for _, it := range items {
			m := it.(map[string]any)
			for _, k := range recordKeys {
				if _, ok := m[k]; !ok {
					t.Errorf("%s record on port %v lacks %q", list, m["port"], k)
				}
			}
		}
	}
	seen := map[int]bool{}
	for _, r := range append(slices.Clone(rep.Orphans), rep.OtherListeners...) {
		if !api.SyncRange.Contains(r.Port) {
			t.Errorf("record for port %d outside [9400, 9450)", r.Port)
		}
		if seen[r.Port] {
			t.Errorf("two records for port %d", r.Port)
		}
		seen[r.Port] = true
		if (r.SkipReason == nil) != (r.CleanupClass == api.ClassSafeAuto) {
			t.Errorf("port %d: class %s with skip_reason %v", r.Port, r.CleanupClass, r.SkipReason)
		}
	}
	for _, r := range rep.Orphans {
		if r.CleanupClass != api.ClassSafeAuto && r.CleanupClass != api.ClassOperatorRequired {
			t.Errorf("orphans[] holds port %d of class %s", r.Port, r.CleanupClass)
		}
	}
	for _, r := range rep.OtherListeners {
		if r.CleanupClass != api.ClassNeverTouch {
			t.Errorf("other_listeners[] holds port %d of class %s", r.Port, r.CleanupClass)
		}
	}
	for _, f := range rep.Findings {
		if f.ID == "" || f.Severity == "" || !strings.HasPrefix(f.Remediation.Command, "spec-kitty ") {
			t.Errorf("finding without id, severity or remediation command: %+v", f)
		}
	}
}

// byPort indexes every record of a report.
func byPort(rep api.DoctorReport) map[int]api.IdentityRecord {
	m := map[int]api.IdentityRecord{}
	for _, r := range append(slices.Clone(rep.Orphans), rep.OtherListeners...) {
		m[r.Port] = r
	}
	return m
}

// wantClass asserts the class and reason of the record on a port.
func wantClass(t *testing.T, recs map[int]api.IdentityRecord, what string, port int, class, reason string) api.IdentityRecord {
	t.Helper()
	r, ok := recs[port]
	if !ok {
		t.Errorf("%s on port %d: no record", what, port)
		return r
	}
	if r.CleanupClass != class || r.Reason != reason {
		t.Errorf("%s on port %d: %s/%s, want %s/%s", what, port, r.CleanupClass, r.Reason, class, reason)
	}
	if class != api.ClassSafeAuto && (r.SkipReason == nil || *r.SkipReason != reason) {
		t.Errorf("%s on port %d: skip_reason %v, want %s", what, port, r.SkipReason, reason)
	}
	return r
}

func findingIDs(rep api.DoctorReport) map[string]string {
	m := map[string]string{}
	for _, f := range rep.Findings {
		m[f.ID] = f.Remediation.Command
	}
	return m
}

// mustAlive fails the test for every process that is no longer running.
func mustAlive(t *testing.T, when string, procs ...*testenv.Proc) {
	t.Helper()
	for _, p := range procs {
		if !p.Alive() {
			t.Errorf("%s: pid %d on port %d (%v) is gone", when, p.PID, p.Port, p.Argv[1:])
		}
	}
}

// mustGone waits until each pid has exited (the reply of a cleanup comes
// after the process is gone, so this never really waits).
func mustGone(t *testing.T, when string, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if !testenv.WaitExited(pid, 0) {
			t.Errorf("%s: pid %d still alive", when, pid)
		}
	}
}

// TestDoctor_AS3_ClassifiesEveryKindReadOnly: one scope with every kind of
// listener SPEC §7 distinguishes; `auth doctor` names each one's class and
// reason, and touches nothing (issue 3).
func TestDoctor_AS3_ClassifiesEveryKindReadOnly(t *testing.T) {
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	other := testenv.New(t)
	single := start(t, e)
	ports := testenv.FreePorts(t, api.SyncRange, 9)

	older := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0], Version: "3.2.2"})
	dup := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1]})
	pre := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[2], Version: "3.2.4", Root: testenv.Ptr("")})
	cross := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[3], Version: "3.2.3", Root: &other.Home, Home: other.Home})
	wedged := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[4], Version: "3.2.3"})
	wedged.Wedge(t)
	third := e.ThirdPartyHTTP(ports[5], "<html>hello</html>")
	// Health that looks like ours from a process that is not spawn-shaped:
	// a self-report alone is never kill authority (row 4).
	mimic := e.ThirdPartyHTTP(ports[6], `{"status":"ok","daemon_family":"sync","singleton_scope_id":"`+e.Home+`","protocol_version":1,"package_version":"3.2.2"}`)
	silent := e.SilentTCP(ports[7])
	dash := e.ThirdPartyHTTP(ports[8], `{"status":"ok","daemon_family":"dashboard","project_path":"/tmp/p","protocol_version":1,"package_version":"3.3.0"}`)
	all := []*testenv.Proc{older, dup, pre, cross, wedged, third, mimic, silent, dash}
	state, err := os.ReadFile(e.Path("sync-daemon"))
	if err != nil {
		t.Fatal(err)
	}

	rep, _ := doctorJSON(t, e, 0)
	recs := byPort(rep)
	wantClass(t, recs, "recorded singleton", single.Port, api.ClassNeverTouch, api.SkipRecordedSingleton)
	r := wantClass(t, recs, "3.2.2 daemon", older.Port, api.ClassSafeAuto, api.StaleVersion)
	if r.PID == nil || *r.PID != older.PID || r.PackageVersion == nil || *r.PackageVersion != "3.2.2" ||
		!r.SpawnShapeOK || r.SelfReportMatchesListener == nil || !*r.SelfReportMatchesListener ||
		r.IdentitySource != api.SourceHealth || r.SingletonScopeID == nil || *r.SingletonScopeID != e.Home {
		t.Errorf("3.2.2 daemon record does not describe pid %d: %+v", older.PID, r)
	}
	wantClass(t, recs, "same-version duplicate", dup.Port, api.ClassSafeAuto, api.DuplicateSameVersion)
	wantClass(t, recs, "pre-marker daemon", pre.Port, api.ClassOperatorRequired, api.SkipPreMarker)
	r = wantClass(t, recs, "cross-root daemon", cross.Port, api.ClassOperatorRequired, api.SkipCrossRoot)
	if r.SingletonScopeID == nil || *r.SingletonScopeID != other.Home {
		t.Errorf("cross-root singleton_scope_id = %v, want %s", r.SingletonScopeID, other.Home)
	}
	r = wantClass(t, recs, "wedged daemon", wedged.Port, api.ClassOperatorRequired, api.SkipUnresponsive)
	if r.IdentitySource != api.SourceMarker || r.PID == nil || *r.PID != wedged.PID {
		t.Errorf("wedged daemon is known by its marker and pid: %+v", r)
	}
	r = wantClass(t, recs, "third-party HTTP", third.Port, api.ClassNeverTouch, api.SkipThirdParty)
	if r.SpawnShapeOK {
		t.Errorf("third-party process reported spawn-shaped")
	}
	wantClass(t, recs, "sync-looking third party", mimic.Port, api.ClassNeverTouch, api.SkipThirdParty)
	r = wantClass(t, recs, "silent TCP listener", silent.Port, api.ClassNeverTouch, api.SkipNotSpecKitty)
	if r.IdentitySource != api.SourceNone {
		t.Errorf("silent listener identity_source = %s, want none", r.IdentitySource)
	}
	wantClass(t, recs, "dashboard answer", dash.Port, api.ClassNeverTouch, api.SkipDashboardFamily)
	if got, want := len(recs), len(testenv.ListeningPorts(api.SyncRange)); got != want {
		t.Errorf("%d records for %d listening ports", got, want)
	}
	if !rep.Daemon.Active || rep.Daemon.PID == nil || *rep.Daemon.PID != single.PID {
		t.Errorf("daemon = %+v, want the active singleton pid %d", rep.Daemon, single.PID)
	}
	fs := findingIDs(rep)
	if fs["stale_daemons"] != "spec-kitty auth doctor --reset" || fs["operator_required_daemons"] != "spec-kitty auth doctor --reset --force" {
		t.Errorf("findings do not name the next commands: %+v", rep.Findings)
	}

	human := e.Run("auth", "doctor")
	if human.Code != 0 {
		t.Fatalf("auth doctor: exit %d %s", human.Code, human.Stderr)
	}
	checkHumanTable(t, human.Stdout, recs)
	for _, next := range []string{"next: spec-kitty auth doctor --reset\n", "next: spec-kitty auth doctor --reset --force\n"} {
		if !strings.Contains(human.Stdout, next) {
			t.Errorf("human output lacks %q:\n%s", next, human.Stdout)
		}
	}

	// Read-only means read-only: every process lives, nothing journaled,
	// the state file untouched.
	mustAlive(t, "after auth doctor", all...)
	if !procinfo.Alive(single.PID) {
		t.Errorf("recorded singleton pid %d died", single.PID)
	}
	if _, err := os.Stat(e.Path("cleanup-journal.jsonl")); !os.IsNotExist(err) {
		t.Errorf("auth doctor without --reset wrote a journal: %v %v", err, e.Journal())
	}
	if now, _ := os.ReadFile(e.Path("sync-daemon")); !bytes.Equal(now, state) {
		t.Errorf("auth doctor changed the state file")
	}
	if res := e.Run("auth", "doctor", "--force"); res.Code != 2 || !strings.Contains(res.Stderr, "--reset") {
		t.Errorf("--force without --reset: exit %d %q, want usage error 2", res.Code, res.Stderr)
	}
}

// checkHumanTable asserts the table header and one row per record.
func checkHumanTable(t *testing.T, out string, recs map[int]api.IdentityRecord) {
	t.Helper()
	lines := strings.Split(out, "\n")
	head := slices.IndexFunc(lines, func(l string) bool {
		return slices.Equal(strings.Fields(l), []string{"PID", "PORT", "VERSION", "CLASS", "REASON"})
	})
	if head < 0 {
		t.Fatalf("no PID PORT VERSION CLASS REASON header:\n%s", out)
	}
	rows := map[string][]string{}
	for _, l := range lines[head+1:] {
		if f := strings.Fields(l); len(f) == 5 {
			rows[f[1]] = f
		}
	}
	for port, r := range recs {
		row, ok := rows[itoa(port)]
		if !ok {
			t.Errorf("no table row for port %d:\n%s", port, out)
			continue
		}
		if row[3] != r.CleanupClass || row[4] != r.Reason || (r.PID != nil && row[0] != itoa(*r.PID)) {
			t.Errorf("row %v does not match record %s/%s pid %v", row, r.CleanupClass, r.Reason, r.PID)
		}
	}
}

// compileSchema compiles the committed JSON Schema of `auth doctor --json`.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	return compileSchemaFile(t, "auth-doctor.schema.json")
}

// compileSchemaFile compiles one of the committed JSON Schemas in docs/schema.
func compileSchemaFile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "schema", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema %s is not JSON: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	return sch
}

func validate(sch *jsonschema.Schema, doc string) error {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

// TestDoctor_SchemaValidatesRealOutput validates the real output of every
// form of `auth doctor --json` against docs/schema/auth-doctor.schema.json,
// and proves the schema strict enough to reject a broken record.
func TestDoctor_SchemaValidatesRealOutput(t *testing.T) {
	sch := compileSchema(t)
	check := func(what, out string) {
		t.Helper()
		if err := validate(sch, out); err != nil {
			t.Errorf("%s does not match the schema: %v\n%s", what, err, out)
		}
	}

	empty := testenv.New(t)
	_, res := doctorJSON(t, empty, 0)
	check("auth doctor --json of an empty scope", res.Stdout)

	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	if r := e.RunWith(nil, "secret-token\n", "auth", "login", "--with-token", "--server", "https://sk.example.com", "--email", "u@example.com", "--team", "t"); r.Code != 0 {
		t.Fatalf("auth login: %d %s", r.Code, r.Stderr)
	}
	start(t, e)
	ports := testenv.FreePorts(t, api.SyncRange, 4)
	stale := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[0], Version: "3.2.2"})
	pre := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1], Root: testenv.Ptr("")})
	e.ThirdPartyHTTP(ports[2], "nope")
	e.SilentTCP(ports[3])

	rep, res := doctorJSON(t, e, 0)
	check("auth doctor --json", res.Stdout)
	if !rep.Session.Present || rep.Session.AuthTeam == nil || *rep.Session.AuthTeam != "t" {
		t.Errorf("session = %+v, want the logged-in one", rep.Session)
	}
	rep, res = doctorJSON(t, e, 0, "--reset")
	check("auth doctor --reset --json", res.Stdout)
	rr := mineOnly(rep.ResetResult, ports)
	if len(rr.Swept) != 1 || rr.Swept[0].PID != stale.PID || len(rr.Skipped) != 1 || rr.Skipped[0].Port != pre.Port {
		t.Fatalf("reset_result = %+v, want stale swept and pre-marker skipped", rr)
	}

	// The schema is strict: each of these breaks the contract.
	for name, mutate := range map[string]func(m map[string]any){
		"unknown class":              func(m map[string]any) { record(m)["cleanup_class"] = "maybe" },
		"missing key":                func(m map[string]any) { delete(record(m), "daemon_root") },
		"safe_auto with skip_reason": func(m map[string]any) { orphan(m, "safe_auto")["skip_reason"] = "pre_marker" },
		"operator_required without skip_reason": func(m map[string]any) {
			orphan(m, "operator_required")["skip_reason"] = nil
		},
		"safe_auto with a skip reason as reason": func(m map[string]any) { orphan(m, "safe_auto")["reason"] = "cross_root" },
		"port outside the range":                 func(m map[string]any) { record(m)["port"] = 9450 },
		"string pid":                             func(m map[string]any) { record(m)["pid"] = "12" },
		"unknown identity source":                func(m map[string]any) { record(m)["identity_source"] = "guess" },
		"schema_version 1":                       func(m map[string]any) { m["schema_version"] = 1 },
		"unknown cleanup_path": func(m map[string]any) {
			m["reset_result"].(map[string]any)["swept"].([]any)[0].(map[string]any)["cleanup_path"] = "nuke"
		},
		"extra top-level key": func(m map[string]any) { m["surprise"] = true },
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(res.Stdout), &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		if validate(sch, string(b)) == nil {
			t.Errorf("schema accepts a report with %s", name)
		}
	}

	e.Journal()

	guardForce(t, e, ports...)
	rep, res = doctorJSON(t, e, 0, "--reset", "--force")
	check("auth doctor --reset --force --json", res.Stdout)
	if rr := mineOnly(rep.ResetResult, ports); len(rr.Swept) != 1 || rr.Swept[0].PID != pre.PID {
		t.Fatalf("reset_result = %+v, want the pre-marker daemon swept", rr)
	}
	e.Journal()
}

// record returns the first never_touch record of a decoded report (there is
// always the recorded singleton).
func record(m map[string]any) map[string]any {
	return m["other_listeners"].([]any)[0].(map[string]any)
}

// orphan returns the first orphan record of a class in a decoded report.
func orphan(m map[string]any, class string) map[string]any {
	for _, o := range m["orphans"].([]any) {
		if r := o.(map[string]any); r["cleanup_class"] == class {
			return r
		}
	}
	panic("no orphan of class " + class)
}

// TestDoctor_SymlinkedHomeIsSameScope: a runtime root reached through a
// symlink and its target are one scope; the scope id is the target.
func TestDoctor_SymlinkedHomeIsSameScope(t *testing.T) {
	e := testenv.New(t)
	link := filepath.Join(t.TempDir(), "home-link")
	if err := os.Symlink(e.Home, link); err != nil {
		t.Fatal(err)
	}
	viaLink := map[string]string{"SPEC_KITTY_HOME": link}
	res := e.RunWith(map[string]string{"SPEC_KITTY_HOME": link, "SPEC_KITTY_CLI_VERSION": "3.2.2"}, "", "sync", "start", "--json")
	var st api.StartResult
	if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &st) != nil || !st.Started {
		t.Fatalf("sync start under the symlink: %d %s %s", res.Code, res.Stdout, res.Stderr)
	}
	h, err := client.New(st.Port).Health(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h.SingletonScopeID != e.Home {
		t.Fatalf("singleton_scope_id = %q, want the symlink's target %q", h.SingletonScopeID, e.Home)
	}
	if got := e.ScopeDaemons(); !slices.Equal(got, []int{st.PID}) {
		t.Fatalf("daemons with the target as marker: %v, want [%d]", got, st.PID)
	}

	// Under the target (and under the link) it is the recorded singleton.
	rep, _ := doctorJSON(t, e, 0)
	wantClass(t, byPort(rep), "daemon started under the symlink", st.Port, api.ClassNeverTouch, api.SkipRecordedSingleton)
	if rep.AuthRoot != e.Home {
		t.Errorf("auth_root = %q, want %q", rep.AuthRoot, e.Home)
	}

	// Forget the singleton record: the daemon is then a stale daemon of
	// this same scope — safe_auto, not cross_root — seen from either path.
	if err := os.Remove(e.Path("sync-daemon")); err != nil {
		t.Fatal(err)
	}
	rep, _ = doctorJSON(t, e, 0)
	wantClass(t, byPort(rep), "daemon under the target", st.Port, api.ClassSafeAuto, api.StaleVersion)
	linkRes := e.RunWith(viaLink, "", "auth", "doctor", "--json")
	var viaRep api.DoctorReport
	if linkRes.Code != 0 || json.Unmarshal([]byte(linkRes.Stdout), &viaRep) != nil {
		t.Fatalf("auth doctor under the symlink: %d %s", linkRes.Code, linkRes.Stderr)
	}
	wantClass(t, byPort(viaRep), "daemon seen through the symlink", st.Port, api.ClassSafeAuto, api.StaleVersion)

	// And the startup reaper of the target cleans it.
	cur := start(t, e)
	if len(cur.Reaped) != 1 || cur.Reaped[0].PID != st.PID {
		t.Fatalf("reaped = %+v, want pid %d", cur.Reaped, st.PID)
	}
	mustGone(t, "after sync start under the target", st.PID)
	assertOneDaemon(t, e, cur.PID)
	e.Journal()
}

// mineOnly keeps the reset entries of the given ports: the range is shared
// with whatever else runs on the machine, and a test speaks for its own.
func mineOnly(rr *api.ResetResult, ports []int) api.ResetResult {
	out := api.NewResetResult()
	if rr == nil {
		return out
	}
	for _, s := range rr.Swept {
		if slices.Contains(ports, s.Port) {
			out.Swept = append(out.Swept, s)
		}
	}
	for _, s := range rr.Skipped {
		if slices.Contains(ports, s.Port) {
			out.Skipped = append(out.Skipped, s)
		}
	}
	for _, f := range rr.Failed {
		if slices.Contains(ports, f.Port) {
			out.Failed = append(out.Failed, f)
		}
	}
	return out
}

// guardForce skips the test when `--reset --force` would stop an
// operator_required daemon the test did not start (another scope's daemon
// on a shared machine): --force acts on the whole range by design.
func guardForce(t *testing.T, e *testenv.Env, ports ...int) {
	t.Helper()
	rep, _ := doctorJSON(t, e, 0)
	var foreign []string
	for _, r := range rep.Orphans {
		if !slices.Contains(ports, r.Port) {
			foreign = append(foreign, itoa(r.Port)+" ("+r.Reason+")")
		}
	}
	if len(foreign) > 0 {
		msg := fmt.Sprintf("not running --reset --force: it would stop daemons this test did not start, on ports %v", foreign)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg) // CI's machine is clean: a stranger here is a leak to find
		}
		t.Skip(msg)
	}
}
