//go:build linux

package live

import (
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// TestLegacy_PythonDaemonClassifiedAndReaped (issue 7): a daemon left by the
// Python implementation — `python3 -c "…run_sync_daemon…"
// --spec-kitty-daemon-root=<this scope>`, health with a token field and no
// daemon_family — is a stale daemon of this scope exactly like a Go daemon
// of the same version, and the startup reaper cleans it. One without the
// marker is pre_marker and survives.
func TestLegacy_PythonDaemonClassifiedAndReaped(t *testing.T) {
	e := testenv.New(t)
	ports := testenv.FreePorts(t, api.SyncRange, 3)
	legacy := e.Legacy(ports[0], e.Home)
	bare := e.Legacy(ports[1], "")
	goTwin := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[2], Version: "3.1.9"})

	rep, _ := doctorJSON(t, e, 0)
	recs := byPort(rep)
	r := wantClass(t, recs, "legacy daemon with marker", legacy.Port, api.ClassSafeAuto, api.StaleVersion)
	twin := wantClass(t, recs, "Go daemon of the same version", goTwin.Port, api.ClassSafeAuto, api.StaleVersion)
	if r.PID == nil || *r.PID != legacy.PID || r.DaemonFamily == nil || *r.DaemonFamily != api.FamilySync ||
		!r.SpawnShapeOK || r.IdentitySource != api.SourceHealth ||
		r.SingletonScopeID == nil || *r.SingletonScopeID != e.Home ||
		r.PackageVersion == nil || *r.PackageVersion != "3.1.9" ||
		r.ExecutableSummary == nil || !strings.Contains(*r.ExecutableSummary, "legacy python") {
		t.Errorf("legacy record does not describe pid %d: %+v", legacy.PID, r)
	}
	if r.CleanupClass != twin.CleanupClass || r.Reason != twin.Reason || *r.SingletonScopeID != *twin.SingletonScopeID {
		t.Errorf("legacy %s/%s differs from its Go twin %s/%s", r.CleanupClass, r.Reason, twin.CleanupClass, twin.Reason)
	}
	wantClass(t, recs, "legacy daemon without marker", bare.Port, api.ClassOperatorRequired, api.SkipPreMarker)
	mustAlive(t, "after auth doctor", legacy, bare, goTwin)

	res := start(t, e)
	reaped := map[int]api.SweptEntry{}
	for _, s := range res.Reaped {
		reaped[s.PID] = s
	}
	if s, ok := reaped[legacy.PID]; !ok || s.Port != legacy.Port || s.Reason != api.StaleVersion {
		t.Errorf("startup reaper did not clean the legacy daemon: reaped %+v", res.Reaped)
	} else if s.CleanupPath != api.PathTerminate {
		// No per-instance record in this scope holds its token.
		t.Errorf("legacy daemon stopped via %s, want terminate", s.CleanupPath)
	}
	if _, ok := reaped[goTwin.PID]; !ok || len(res.Reaped) != 2 {
		t.Errorf("reaped %+v, want exactly the legacy daemon and its Go twin", res.Reaped)
	}
	mustGone(t, "after sync start", legacy.PID, goTwin.PID)
	mustAlive(t, "pre-marker legacy daemon after sync start", bare)
	assertOneDaemon(t, e, res.PID)
	for _, j := range e.Journal() {
		if j.PID == bare.PID {
			t.Errorf("the pre-marker legacy daemon was sent %s", j.Step)
		}
	}

	rep, _ = doctorJSON(t, e, 0)
	wantClass(t, byPort(rep), "legacy daemon without marker, later", bare.Port, api.ClassOperatorRequired, api.SkipPreMarker)
}
