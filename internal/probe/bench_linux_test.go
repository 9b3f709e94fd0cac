package probe

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// benchBystanders is how many unrelated processes of this user exist while
// owners are resolved: a busy desktop session's worth.
const benchBystanders = 300

// BenchmarkResolveOwners shows what finding a listener's owner costs among
// many unrelated processes: verified hints touch one process; without one
// every process of the socket's user may be visited.
func BenchmarkResolveOwners(b *testing.B) {
	for range benchBystanders {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	h := startHelper(b, helperText)
	procs, err := os.ReadDir(procRoot)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, hints []int) {
		ctx := context.Background()
		for b.Loop() {
			owners := resolveOwners(ctx, map[int][]int{h.port: hints})
			if owners[h.port].info.PID != h.pid {
				b.Fatalf("owner = %+v, want pid %d", owners[h.port], h.pid)
			}
		}
		b.ReportMetric(float64(len(procs)), "procs")
	}
	b.Run("hinted", func(b *testing.B) { run(b, []int{h.pid}) })
	b.Run("wrong-hint", func(b *testing.B) { run(b, []int{os.Getpid()}) })
	b.Run("unhinted", func(b *testing.B) { run(b, nil) })
}
