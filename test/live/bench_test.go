//go:build linux

package live

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The quality bars of SPEC §14, measured on real daemons on real ports.
// Alongside ns/op each benchmark reports the median and the worst
// iteration, since the bars are stated as a median and a bound.

var benchVersions = []string{"3.2.2", "3.2.3", "3.2.4"}

// benchScope returns what ScanScope needs for an Env's scope, as the CLI
// built for this run would pass it.
func benchScope(b *testing.B, e *testenv.Env) (paths.Layout, string) {
	exe, err := filepath.EvalSymlinks(testenv.Bin())
	if err != nil {
		b.Fatal(err)
	}
	return paths.Layout{Root: e.Home}, exe
}

// spawnStale starts one same-scope daemon per port, of the three old
// versions in turn: every one is safe_auto.
func spawnStale(e *testenv.Env, ports []int) []*testenv.Proc {
	procs := make([]*testenv.Proc, 0, len(ports))
	for i, port := range ports {
		procs = append(procs, e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: benchVersions[i%len(benchVersions)]}))
	}
	return procs
}

func reportSpread(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Millisecond), "median-ms")
	b.ReportMetric(float64(ds[len(ds)-1])/float64(time.Millisecond), "max-ms")
}

// safeOn counts the safe_auto records of a scan on the given ports.
func safeOn(s *doctor.Scan, ports []int) int {
	n := 0
	for _, r := range s.Records {
		if r.CleanupClass == api.ClassSafeAuto && slices.Contains(ports, r.Port) {
			n++
		}
	}
	return n
}

// BenchmarkScan18Daemons: a full scan and classification of [9400, 9450)
// with 18 live daemons of this scope (bar: ≤ 20 ms median).
func BenchmarkScan18Daemons(b *testing.B) {
	e := testenv.New(b)
	ports := testenv.FreePorts(b, api.SyncRange, 18)
	spawnStale(e, ports)
	timeScans(b, e, func(s *doctor.Scan, err error) {
		if err != nil || safeOn(s, ports) != 18 {
			b.Fatalf("scan: %v, %d of 18 daemons safe_auto", err, safeOn(s, ports))
		}
	})
}

// timeScans times doctor.ScanScope of e's scope once per iteration, hands
// each result to check, and reports the spread.
func timeScans(b *testing.B, e *testenv.Env, check func(*doctor.Scan, error)) {
	layout, exe := benchScope(b, e)
	ctx := context.Background()
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := doctor.ScanScope(ctx, layout, "3.3.0", exe)
		ds = append(ds, time.Since(t0))
		check(s, err)
	}
	reportSpread(b, ds)
}

// BenchmarkScanAllWedged: every free port of the range holds a wedged
// (SIGSTOPped) daemon of this scope; the scan costs one health timeout, not
// one per port (bar: ≤ 600 ms).
func BenchmarkScanAllWedged(b *testing.B) {
	e := testenv.New(b)
	var free []int
	for _, p := range api.SyncRange.Ports() {
		if testenv.Free(p) {
			free = append(free, p)
		}
	}
	wedged := map[int]int{}
	for _, p := range spawnStale(e, free) {
		p.Wedge(b)
		wedged[p.Port] = p.PID
	}
	timeScans(b, e, func(s *doctor.Scan, err error) {
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range s.Records {
			if slices.Contains(free, r.Port) && r.Reason != api.SkipUnresponsive {
				b.Fatalf("wedged daemon pid %d on port %d classified %s/%s", wedged[r.Port], r.Port, r.CleanupClass, r.Reason)
			}
		}
	})
	b.ReportMetric(float64(len(free)), "wedged")
}

// BenchmarkReset18: `--reset` of 18 safe_auto daemons (bar: ≤ 300 ms). Each
// iteration spawns and scans 18 fresh daemons with the timer stopped and
// times doctor.Reset alone.
func BenchmarkReset18(b *testing.B) {
	e := testenv.New(b)
	layout, exe := benchScope(b, e)
	ctx := context.Background()
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		ports := testenv.FreePorts(b, api.SyncRange, 18)
		spawnStale(e, ports)
		s, err := doctor.ScanScope(ctx, layout, "3.3.0", exe)
		if err != nil || safeOn(s, ports) != 18 {
			b.Fatalf("scan: %v, %d of 18 daemons safe_auto", err, safeOn(s, ports))
		}
		b.StartTimer()
		t0 := time.Now()
		res := doctor.Reset(ctx, s, doctor.ResetOptions{Actor: "benchmark"})
		ds = append(ds, time.Since(t0))
		b.StopTimer()
		if own := mineOnly(&res, ports); len(own.Swept) != 18 || len(own.Failed) != 0 {
			b.Fatalf("reset: %+v, want 18 swept", own)
		}
		b.StartTimer()
	}
	reportSpread(b, ds)
	e.Journal()
}
