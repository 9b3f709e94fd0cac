package classify

import (
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// benchEvidence is a full scan of [9400, 9450) on the machine of SPEC §1:
// the singleton, 18 orphans of 3.2.2–3.2.4 on 9401–9418, and a realistic
// mix of the other kinds of listener on the rest of the range.
func benchEvidence() []Evidence {
	versions := []string{"3.2.2", "3.2.3", "3.2.4"}
	evs := []Evidence{goDaemon(4000, 9400, currentVer)}
	for i := range 18 {
		port := 9401 + i
		evs = append(evs, goDaemon(5000+port, port, versions[i%3]))
	}
	for port := 9419; port < api.SyncRange.Hi; port++ {
		pid := 5000 + port
		var ev Evidence
		switch port % 8 {
		case 0:
			ev = legacyDaemon(pid, port, markerArg(homeScope))
		case 1:
			ev = with(goDaemon(pid, port, "3.2.2"), wedged)
		case 2:
			ev = dashboardDaemon(pid, port)
		case 3:
			ev = Evidence{Port: port, PID: pid, Argv: []string{"/usr/sbin/nginx", "-g", "daemon off;"}, ArgvReadable: true, HTTPAnswered: true}
		case 4:
			ev = with(goDaemon(pid, port, "3.2.3"), argv(goArgv(port)...))
		case 5:
			ev = with(goDaemon(pid, port, "3.2.3"), argv(goArgv(port, markerArg(foreignScope))...))
		case 6:
			ev = with(goDaemon(0, port, "3.2.4"), unreadableArgv)
		default:
			ev = with(goDaemon(pid, port, "3.2.4"), func(e *Evidence) { e.Health.Owner.PID = 1 })
		}
		evs = append(evs, ev)
	}
	return evs
}

func BenchmarkClassify(b *testing.B) {
	evs := benchEvidence()
	if len(evs) != 50 {
		b.Fatalf("bench scan has %d listeners, want 50", len(evs))
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			_ = Classify(ev, here)
		}
	}
}
