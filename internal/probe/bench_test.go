package probe

import (
	"context"
	"fmt"
	"testing"
)

// benchRangeSize is the size of the sync family's range: the ports one
// scan probes.
const benchRangeSize = 50

// BenchmarkScan scans a range-sized set of ports where some are live
// sync-like daemons (child processes, so owner resolution does real work)
// and the rest are closed. 18 live daemons is the orphan pile of SPEC §1.
func BenchmarkScan(b *testing.B) {
	for _, daemons := range []int{6, 18} {
		b.Run(fmt.Sprintf("daemons=%d", daemons), func(b *testing.B) {
			var ports []int
			for range daemons {
				ports = append(ports, startHelper(b, helperSync).port)
			}
			for len(ports) < benchRangeSize {
				ports = append(ports, closedPort(b))
			}
			ctx := context.Background()
			for b.Loop() {
				evs, err := Scan(ctx, Options{Ports: ports})
				if err != nil {
					b.Fatal(err)
				}
				if len(evs) != daemons {
					b.Fatalf("found %d listeners, want %d", len(evs), daemons)
				}
				for _, ev := range evs {
					if ev.PID == 0 || ev.Health == nil {
						b.Fatalf("port %d: pid %d health %v, want both known", ev.Port, ev.PID, ev.Health)
					}
				}
			}
		})
	}
}

// BenchmarkScan_AllWedged shows that a range of wedged listeners costs one
// health timeout per scan (≈ DefaultHealthTimeout per op), not one per
// listener.
func BenchmarkScan_AllWedged(b *testing.B) {
	var ports []int
	for range 18 {
		ports = append(ports, listen(b, silent))
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := Scan(ctx, Options{Ports: ports}); err != nil {
			b.Fatal(err)
		}
	}
}
