package probe

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// TestScan_EverySourceNamesTheSameOwner runs the real sources of this
// platform against one helper daemon: sock_diag, /proc/net/tcp and lsof
// must name the same process with the same identity; none names nobody.
func TestScan_EverySourceNamesTheSameOwner(t *testing.T) {
	requireLsof(t)
	h := startHelper(t, helperSync)
	for _, src := range []string{SourceAuto, SourceSockDiag, SourceProcfs, SourceLsof} {
		t.Run(src, func(t *testing.T) {
			var rep SourceReport
			evs := scan(t, Options{Ports: []int{h.port}, HealthTimeout: testHealthTimeout, Source: src, Report: &rep})
			if len(evs) != 1 {
				t.Fatalf("scan = %+v, want one listener", evs)
			}
			assertOwner(t, evs[0], h)
			want := src
			if src == SourceAuto {
				want = SourceSockDiag
			}
			if rep.Name != want || len(rep.Notes) != 0 {
				t.Errorf("source report = %+v, want %s without notes", rep, want)
			}
		})
	}
	t.Run(SourceNone, func(t *testing.T) {
		var rep SourceReport
		evs := scan(t, Options{Ports: []int{h.port}, HealthTimeout: testHealthTimeout, Source: SourceNone, Report: &rep, Hints: map[int]int{h.port: h.pid}})
		if len(evs) != 1 || evs[0].PID != 0 || evs[0].Health == nil {
			t.Fatalf("scan = %+v, want one listener with health and no pid", evs)
		}
		if rep.Name != SourceNone {
			t.Errorf("source report = %+v, want none", rep)
		}
	})
}

// TestLsofListeners_NothingListening: lsof exits 1 with no output when no
// socket matches, which is an empty answer, not a failure.
func TestLsofListeners_NothingListening(t *testing.T) {
	requireLsof(t)
	port := closedPort(t)
	ls, err := lsofListeners(context.Background(), []int{port})
	if err != nil || len(ls) != 0 {
		t.Errorf("lsofListeners = %v, %v; want nothing and no error", ls, err)
	}
}

// requireLsof skips a test that runs the real lsof where it is not
// installed, except under CI=true, where .ci/run installs it and its absence
// is a failure.
func requireLsof(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("lsof"); err == nil {
		return
	}
	const msg = "lsof is not on PATH (apt-get install -y lsof; .ci/run installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
