//go:build linux

package live

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// More of the SPEC §14 measurements, next to bench_test.go: the scan with 0
// and 50 listeners, spawn to healthy, and whole-process `--reset` and reuse.
// scripts/bench.sh runs them with fixed iteration counts and reports each
// figure as a median with its minimum and maximum (the *-ms metrics).

// bpVersion is the CLI version the scans classify for: newer than every
// daemon the benchmarks start, as after an upgrade.
const bpVersion = "3.3.0"

var bpVersions = []string{"3.2.2", "3.2.3", "3.2.4"}

// bpSpread reports the median, fastest and slowest iteration.
func bpSpread(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), "median-ms")
	b.ReportMetric(ms(ds[0]), "min-ms")
	b.ReportMetric(ms(ds[len(ds)-1]), "max-ms")
}

// bpLayout is what ScanScope needs for an Env's scope, as the CLI of this
// run would pass it.
func bpLayout(b *testing.B, e *testenv.Env) (paths.Layout, string) {
	exe, err := filepath.EvalSymlinks(testenv.Bin())
	if err != nil {
		b.Fatal(err)
	}
	return paths.Layout{Root: e.Home}, exe
}

// bpStale starts one same-scope daemon of an old version on each port:
// every one is safe_auto for a 3.3.0 CLI.
func bpStale(e *testenv.Env, ports []int) {
	for i, port := range ports {
		e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: bpVersions[i%len(bpVersions)]})
	}
}

func bpFree() []int {
	var free []int
	for _, p := range api.SyncRange.Ports() {
		if testenv.Free(p) {
			free = append(free, p)
		}
	}
	return free
}

// bpScan times ScanScope and requires want safe_auto records among ports.
func bpScan(b *testing.B, e *testenv.Env, ports []int) {
	layout, exe := bpLayout(b, e)
	ctx := context.Background()
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		s, err := doctor.ScanScope(ctx, layout, bpVersion, exe)
		ds = append(ds, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		safe := 0
		for _, r := range s.Records {
			if r.CleanupClass == api.ClassSafeAuto && slices.Contains(ports, r.Port) {
				safe++
			}
		}
		if safe != len(ports) {
			b.Fatalf("%d of %d daemons classified safe_auto", safe, len(ports))
		}
	}
	bpSpread(b, ds)
	b.ReportMetric(float64(len(testenv.ListeningPorts(api.SyncRange))), "listeners")
}

// BenchmarkScanEmpty: a full scan and classification of [9400, 9450) with
// nothing listening: the floor of every scan.
func BenchmarkScanEmpty(b *testing.B) {
	bpScan(b, testenv.New(b), nil)
}

// BenchmarkScan50Daemons: every free port of the range holds a live stale
// daemon of this scope (50 on an otherwise idle machine).
func BenchmarkScan50Daemons(b *testing.B) {
	e := testenv.New(b)
	free := bpFree()
	bpStale(e, free)
	bpScan(b, e, free)
}

// BenchmarkScanBusyMachine: the scan of 18 stale daemons and 4 unrelated
// HTTP servers in the range, with 0 and with 2,000 unrelated processes of
// the same user on the machine. No hint names the HTTP servers' owners (no
// per-instance record, no health self-report), so the prober searches the
// user's processes for each socket: the worst case for a busy machine.
func BenchmarkScanBusyMachine(b *testing.B) {
	e := testenv.New(b)
	ports := testenv.FreePorts(b, api.SyncRange, 22)
	bpStale(e, ports[:18])
	for _, p := range ports[18:] {
		e.ThirdPartyHTTP(p, "<html>unrelated</html>")
	}
	for _, n := range []int{0, 2000} {
		b.Run(fmt.Sprintf("bystanders=%d", n), func(b *testing.B) {
			bpBystanders(b, n)
			bpScan(b, e, ports[:18])
		})
	}
}

// bpBystanders starts n sleeping processes, killed (by their own handle)
// when the benchmark ends.
func bpBystanders(b *testing.B, n int) {
	for range n {
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			b.Fatalf("starting bystander: %v", err)
		}
		b.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
}

// BenchmarkSpawnToHealthy: from starting the binary in the production spawn
// shape (token on stdin) until its first health answer naming its own pid
// (bar: ≤ 50 ms). Each daemon is stopped, untimed, before the next.
func BenchmarkSpawnToHealthy(b *testing.B) {
	e := testenv.New(b)
	port := testenv.FreePorts(b, api.SyncRange, 1)[0]
	exe := testenv.Bin()
	argv := []string{lifecycle.SyncDaemonCommand, lifecycle.FlagPort + strconv.Itoa(port),
		lifecycle.FlagDaemonRoot + e.Home, lifecycle.FlagDaemonExec + exe}
	var ds []time.Duration
	for b.Loop() {
		token := spawn.NewToken()
		cmd := exec.Command(exe, argv...)
		cmd.Env = e.Environ()
		cmd.Stdin = strings.NewReader(token + "\n")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if !bpHealthy(port, cmd.Process.Pid, done) {
			_ = cmd.Process.Kill()
			b.Fatalf("daemon pid %d on port %d never answered health", cmd.Process.Pid, port)
		}
		ds = append(ds, time.Since(t0))

		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.New(port).Shutdown(ctx, token)
		cancel()
		if err != nil {
			_ = cmd.Process.Kill() // our own child, through the pidfd Go holds
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			b.Fatalf("daemon pid %d did not exit", cmd.Process.Pid)
		}
		testenv.WaitFree(b, port)
		b.StartTimer()
	}
	bpSpread(b, ds)
}

// bpHealthy polls the port every 200 µs until its health answer names pid;
// false when the process exits first or after ten seconds.
func bpHealthy(port, pid int, done <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	c := client.New(port)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := c.Health(ctx)
		cancel()
		if err == nil && h.Owner != nil && h.Owner.PID == pid {
			return true
		}
		time.Sleep(200 * time.Microsecond)
	}
	return false
}

// BenchmarkResetProcess18: the whole `spec-kitty auth doctor --reset --json`
// process with 18 safe_auto daemons (bar: ≤ 300 ms for the reset). The
// daemons are started, untimed, before each iteration.
func BenchmarkResetProcess18(b *testing.B) {
	e := testenv.New(b)
	var ds []time.Duration
	for b.Loop() {
		b.StopTimer()
		ports := testenv.FreePorts(b, api.SyncRange, 18)
		bpStale(e, ports)
		b.StartTimer()
		t0 := time.Now()
		res := e.Run("auth", "doctor", "--reset", "--json")
		ds = append(ds, time.Since(t0))
		b.StopTimer()
		var rep api.DoctorReport
		if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &rep) != nil || rep.ResetResult == nil {
			b.Fatalf("auth doctor --reset: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
		swept := 0
		for _, s := range rep.ResetResult.Swept {
			if slices.Contains(ports, s.Port) {
				swept++
			}
		}
		if swept != 18 {
			b.Fatalf("swept %d of 18: %+v", swept, rep.ResetResult)
		}
		b.StartTimer()
	}
	bpSpread(b, ds)
}

// BenchmarkSyncStartReuse: the whole `spec-kitty sync start` process when
// the recorded daemon is healthy and of this version (bar: ≤ 10 ms).
func BenchmarkSyncStartReuse(b *testing.B) {
	e := testenv.New(b)
	var first api.StartResult
	e.MustJSON(&first, "sync", "start", "--json")
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		res := e.Run("sync", "start")
		ds = append(ds, time.Since(t0))
		if res.Code != 0 || !strings.Contains(res.Stdout+res.Stderr, "reused") {
			b.Fatalf("sync start did not reuse pid %d: exit %d\n%s%s", first.PID, res.Code, res.Stdout, res.Stderr)
		}
	}
	bpSpread(b, ds)
}
