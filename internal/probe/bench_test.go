package probe

import (
	"context"
	"testing"
)

// benchDaemons is "a handful" of live daemons, each its own process.
const benchDaemons = 6

// BenchmarkScan scans live sync-like daemons (child processes, so owner
// resolution does real work) among as many closed ports.
func BenchmarkScan(b *testing.B) {
	var ports []int
	for range benchDaemons {
		ports = append(ports, startHelper(b, helperSync).port, closedPort(b))
	}
	ctx := context.Background()
	for b.Loop() {
		evs, err := Scan(ctx, Options{Ports: ports})
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) != benchDaemons {
			b.Fatalf("found %d listeners, want %d", len(evs), benchDaemons)
		}
		for _, ev := range evs {
			if ev.PID == 0 || ev.Health == nil {
				b.Fatalf("port %d: pid %d health %v, want both known", ev.Port, ev.PID, ev.Health)
			}
		}
	}
}

// BenchmarkScan_AllWedged shows the all-wedged scan costs one health
// timeout (≈ DefaultHealthTimeout per op), not one per listener.
func BenchmarkScan_AllWedged(b *testing.B) {
	var ports []int
	for range 3 * benchDaemons {
		ports = append(ports, listen(b, silent))
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := Scan(ctx, Options{Ports: ports}); err != nil {
			b.Fatal(err)
		}
	}
}
