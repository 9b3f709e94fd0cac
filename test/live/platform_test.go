//go:build linux

package live

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/probe"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The listener sources of SPEC §8 Platforms, run live on Linux: lsof (the
// macOS source) must give the same classes and results as the default
// (sock_diag), and none (a sandbox, a platform that cannot tell) must still
// clean this scope's own daemons by token proof and signal nothing else.

// lsofToo runs a cleanup test with the default source and with lsof.
var lsofToo = []string{"", probe.SourceLsof}

// eachSource runs test once per listener source, as a subtest named after
// it ("default" for the platform's own).
func eachSource(t *testing.T, sources []string, test func(t *testing.T, source string)) {
	t.Helper()
	for _, s := range sources {
		name := s
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			if s == probe.SourceLsof {
				testenv.RequireTool(t, "lsof", "for the lsof listener source")
			}
			test(t, s)
		})
	}
}

// useSource makes every CLI run of e use source; "" keeps the default.
func useSource(e *testenv.Env, source string) {
	if source != "" {
		e.Vars[probe.EnvListenerSource] = source
	}
}

// wantSource checks that the report names the source the scan used: the
// one asked for, or sock_diag by default on Linux.
func wantSource(t *testing.T, rep api.DoctorReport, source string) {
	t.Helper()
	want := source
	if want == "" {
		want = probe.SourceSockDiag
	}
	if rep.Platform.OS != "linux" || rep.Platform.ListenerSource != want {
		t.Errorf("platform = %+v, want linux with listener source %s", rep.Platform, want)
	}
}

// TestPlatform_LsofBoundaryMatrix runs the boundary matrix (every cleanup
// entrypoint × every kind of listener × the edges of both ranges) with the
// lsof source; the dashboard's own cleanup uses it too.
func TestPlatform_LsofBoundaryMatrix(t *testing.T) {
	for _, layout := range dashLayouts {
		for _, entry := range dashEntries {
			t.Run(layout.name+"/"+entry.name, func(t *testing.T) {
				testenv.RequireTool(t, "lsof", "for the lsof listener source")
				dashRunMatrixCellWith(t, entry, append(slices.Clone(layout.spots), dashInner...), probe.SourceLsof)
			})
		}
	}
}

// TestPlatform_NoneSource_TokenProofOnly: with no listener source no pid is
// known. This scope's own daemons prove their token and are swept by the
// authenticated shutdown (startup reaper and --reset); pre-marker, legacy
// and cross-root daemons are operator_required / missing_pid, and even
// --reset --force signals none of them: they land in failed[], alive, and
// the journal holds nothing but shutdown requests.
func TestPlatform_NoneSource_TokenProofOnly(t *testing.T) {
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	useSource(e, probe.SourceNone)
	other := testenv.New(t)
	ports := testenv.FreePorts(t, api.SyncRange, 8)
	versions := []string{"3.2.2", "3.2.3", "3.2.4"}
	var own []*testenv.Proc
	for i, v := range versions {
		own = append(own, e.SpawnDaemon(testenv.DaemonOpts{Port: ports[i], Version: v}))
	}
	pre := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[3], Version: "3.2.2", Root: testenv.Ptr("")})
	legacy := e.Legacy(ports[4], e.Home)
	cross := other.SpawnDaemon(testenv.DaemonOpts{Port: ports[5], Version: "3.2.3"})
	third := e.ThirdPartyHTTP(ports[6], "hello")
	extra := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[7], Version: "3.2.4"})
	ops := []*testenv.Proc{pre, legacy, cross}

	rep, res := doctorJSON(t, e, 0)
	wantSource(t, rep, probe.SourceNone)
	if err := validate(compileSchema(t), res.Stdout); err != nil {
		t.Errorf("report does not match the schema: %v", err)
	}
	recs := byPort(rep)
	for _, p := range append(slices.Clone(own), extra) {
		r := wantClass(t, recs, "own daemon "+itoa(p.PID), p.Port, api.ClassSafeAuto, api.StaleVersion)
		if r.IdentitySource != api.SourceTokenProof || r.PID != nil {
			t.Errorf("own daemon on %d: identity_source %s, pid %v; want token_proof and no pid", p.Port, r.IdentitySource, r.PID)
		}
	}
	for _, p := range ops {
		r := wantClass(t, recs, "not provably ours", p.Port, api.ClassOperatorRequired, api.SkipMissingPID)
		if r.PID != nil || r.IdentitySource == api.SourceTokenProof {
			t.Errorf("port %d: pid %v, identity_source %s; want no pid and no token proof", p.Port, r.PID, r.IdentitySource)
		}
	}
	wantClass(t, recs, "third party", third.Port, api.ClassNeverTouch, api.SkipThirdParty)

	// The startup reaper sweeps this scope's daemons by the authenticated
	// shutdown, and only them.
	st := start(t, e)
	if !st.Started {
		t.Fatalf("sync start = %+v, want a spawn", st)
	}
	reaped := map[int]api.SweptEntry{}
	for _, s := range st.Reaped {
		reaped[s.Port] = s
	}
	for _, p := range append(slices.Clone(own), extra) {
		s, ok := reaped[p.Port]
		if !ok || s.CleanupPath != api.PathHTTPShutdown || s.CleanupClass != api.ClassSafeAuto || s.PID != p.PID {
			t.Errorf("startup reaper on port %d: %+v (found %v), want pid %d swept by http_shutdown", p.Port, s, ok, p.PID)
		}
	}
	if len(st.Reaped) != len(own)+1 {
		t.Errorf("reaped %+v, want exactly this scope's %d daemons", st.Reaped, len(own)+1)
	}
	mustGone(t, "after sync start", own[0].PID, own[1].PID, own[2].PID, extra.PID)
	mustAlive(t, "after sync start", append(slices.Clone(ops), third)...)
	if again := start(t, e); !again.Reused || again.PID != st.PID || len(again.Reaped) != 0 {
		t.Errorf("second sync start = %+v, want reuse of pid %d", again, st.PID)
	}

	// A later stale daemon of this scope is swept by --reset the same way.
	late := e.SpawnDaemon(testenv.DaemonOpts{Port: testenv.FreePorts(t, api.SyncRange, 1)[0], Version: "3.2.2"})
	ports = append(ports, late.Port)
	rep, _ = doctorJSON(t, e, 0, "--reset")
	rr := mineOnly(rep.ResetResult, ports)
	if len(rr.Swept) != 1 || rr.Swept[0].Port != late.Port || rr.Swept[0].CleanupPath != api.PathHTTPShutdown || len(rr.Skipped) != len(ops) {
		t.Errorf("--reset = %+v, want the late daemon swept by http_shutdown and %d skipped", rr, len(ops))
	}
	mustGone(t, "after --reset", late.PID)

	guardForce(t, e, ports...)
	rep, _ = doctorJSON(t, e, 1, "--reset", "--force")
	rr = mineOnly(rep.ResetResult, ports)
	if len(rr.Failed) != len(ops) || len(rr.Swept) != 0 {
		t.Fatalf("--reset --force = %+v, want the %d pid-unknown daemons failed", rr, len(ops))
	}
	for _, f := range rr.Failed {
		if f.CleanupClass != api.ClassOperatorRequired || f.PID != nil || !strings.Contains(f.FailureReason, "unknown") {
			t.Errorf("failed entry %+v, want operator_required with an unknown identity", f)
		}
	}
	mustAlive(t, "after --reset --force", append(slices.Clone(ops), third)...)
	for _, j := range e.Journal() {
		if j.Step != api.PathHTTPShutdown {
			t.Errorf("a signal was sent with no listener source: %+v", j)
		}
	}
}

// TestPlatform_ListenerSourceUsage: a source this platform lacks, or an
// unknown one, is a usage error (exit 2) naming the valid values.
func TestPlatform_ListenerSourceUsage(t *testing.T) {
	e := testenv.New(t)
	for _, bad := range []string{"iphlpapi", "netstat"} {
		for _, args := range [][]string{{"auth", "doctor", "--json"}, {"sync", "start"}} {
			res := e.RunWith(map[string]string{probe.EnvListenerSource: bad}, "", args...)
			if res.Code != 2 || !strings.Contains(res.Stderr, "auto, sock_diag, procfs, lsof, none") || res.Stdout != "" {
				t.Errorf("%s=%s spec-kitty %v: exit %d, stderr %q; want exit 2 naming the valid values", probe.EnvListenerSource, bad, args, res.Code, res.Stderr)
			}
		}
	}
}

// BenchmarkScan18DaemonsBySource: the 18-daemon scan through each listener
// source of Linux. lsof-exec alone times the one lsof run the lsof source
// makes, so the report can say where its time goes; none names no pid and
// recognises the 18 by token proof instead.
func BenchmarkScan18DaemonsBySource(b *testing.B) {
	e := testenv.New(b)
	ports := testenv.FreePorts(b, api.SyncRange, 18)
	spawnStale(e, ports)
	for _, src := range []string{probe.SourceSockDiag, probe.SourceProcfs, probe.SourceLsof, probe.SourceNone} {
		b.Run(src, func(b *testing.B) {
			b.Setenv(probe.EnvListenerSource, src)
			timeScans(b, e, func(s *doctor.Scan, err error) {
				if err != nil || safeOn(s, ports) != 18 || s.Platform.ListenerSource != src {
					b.Fatalf("scan via %s: %v, %d of 18 safe_auto, source %q", src, err, safeOn(s, ports), s.Platform.ListenerSource)
				}
			})
		})
	}
	b.Run("lsof-exec", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			t0 := time.Now()
			out, err := exec.Command("lsof", "-nP", "-b", "-w", "-iTCP:9400-9449", "-sTCP:LISTEN", "-F", "pcn").Output()
			ds = append(ds, time.Since(t0))
			if err != nil || len(probe.ParseLsof(out)) < 18 {
				b.Fatalf("lsof: %v, %d listeners", err, len(probe.ParseLsof(out)))
			}
		}
		reportSpread(b, ds)
	})
}

// TestPlatform_LsofMissingFallsBackToNone: where lsof cannot be run (not
// installed, as on a stripped container; here an empty PATH), the scan
// still runs with no pid, reports listener_source none with a warning that
// says why, and still recognises this scope's daemon by token proof.
func TestPlatform_LsofMissingFallsBackToNone(t *testing.T) {
	lsofFallsBackToNone(t, t.TempDir()) // no lsof here
}

// TestPlatform_LsofFailingFallsBackToNone: an lsof that fails (exits 2
// with a complaint) or never answers (killed at its 3 s bound) is a source
// failure, exactly like a missing one: never "no listeners".
func TestPlatform_LsofFailingFallsBackToNone(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep is needed for a hanging lsof: %v", err)
	}
	for name, body := range map[string]string{
		"error":   "echo 'lsof: illegal option character: b' >&2; exit 2",
		"timeout": "exec " + sleep + " 30",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			script := "#!/bin/sh\n" + body + "\n"
			if err := os.WriteFile(filepath.Join(dir, "lsof"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			lsofFallsBackToNone(t, dir)
		})
	}
}

// lsofFallsBackToNone runs doctor with the lsof source and PATH set to
// path beside one daemon of this scope, and checks the scan degraded to
// none with a warning and still proved the daemon by its token.
func lsofFallsBackToNone(t *testing.T, path string) {
	t.Helper()
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	e.Vars["PATH"] = path
	useSource(e, probe.SourceLsof)
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	own := e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: "3.2.2"})

	rep, res := doctorJSON(t, e, 0)
	if rep.Platform.ListenerSource != probe.SourceNone {
		t.Errorf("platform = %+v, want listener_source none after lsof failed", rep.Platform)
	}
	var warned bool
	for _, f := range rep.Findings {
		if f.ID == "listener_source_fallback" && f.Severity == "warning" && strings.Contains(f.Summary, "lsof") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no listener_source_fallback warning naming lsof: %+v", rep.Findings)
	}
	if err := validate(compileSchema(t), res.Stdout); err != nil {
		t.Errorf("report does not match the schema: %v", err)
	}
	r := wantClass(t, byPort(rep), "own daemon", port, api.ClassSafeAuto, api.StaleVersion)
	if r.IdentitySource != api.SourceTokenProof {
		t.Errorf("own daemon identity_source = %s, want token_proof", r.IdentitySource)
	}
	mustAlive(t, "after a read-only doctor", own)
}
