//go:build linux

package live

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// The cleanup engine against real daemons on real ports, at the moments
// between its steps that a command cannot reach deterministically: the
// Step hook runs after the pre-step check and before the intent line.

// engineFor is an engine of this Env's scope that journals to its journal.
func engineFor(e *testenv.Env) *cleanup.Engine {
	return &cleanup.Engine{Family: api.FamilySync, Actor: "test", Journal: cleanup.NewJournal(e.Path("cleanup-journal.jsonl"))}
}

// pidCandidate is a safe_auto candidate for p as a scan with a working
// listener source sees it: pid and start time known, token from its record.
func pidCandidate(t *testing.T, p *testenv.Proc) cleanup.Candidate {
	t.Helper()
	info, err := procinfo.Read(p.PID)
	if err != nil {
		t.Fatal(err)
	}
	fam := api.FamilySync
	return cleanup.Candidate{
		Record:   api.IdentityRecord{Port: p.Port, PID: &p.PID, DaemonFamily: &fam, CleanupClass: api.ClassSafeAuto, Reason: api.StaleVersion, IdentitySource: api.SourceHealth},
		Identity: info.Identity(),
		Token:    p.Token,
	}
}

// tokenCandidate is the same daemon as the none source sees it: no pid, a
// token proof, the token and the pid its own record names.
func tokenCandidate(p *testenv.Proc) cleanup.Candidate {
	fam := api.FamilySync
	return cleanup.Candidate{
		Record:      api.IdentityRecord{Port: p.Port, DaemonFamily: &fam, CleanupClass: api.ClassSafeAuto, Reason: api.StaleVersion, IdentitySource: api.SourceTokenProof},
		Token:       p.Token,
		ReportedPID: p.PID,
	}
}

// TestEngine_DaemonThatExitsBeforeTheRequestIsSkipped: a daemon that goes
// on its own between the pre-step check and the shutdown request (a daemon
// retiring idle) refuses the request; nothing reached it, so it is skipped
// "exited", not failed — with a known pid and with token proof alike
// (SPEC §8; issue 12 defect 13 at the graceful step).
func TestEngine_DaemonThatExitsBeforeTheRequestIsSkipped(t *testing.T) {
	for _, tc := range []struct {
		name string
		cand func(*testenv.Proc) cleanup.Candidate
	}{
		{"pid known", func(p *testenv.Proc) cleanup.Candidate { return pidCandidate(t, p) }},
		{"token proof", tokenCandidate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t)
			d := e.SpawnDaemon(testenv.DaemonOpts{Port: testenv.FreePorts(t, api.SyncRange, 1)[0], Version: "3.2.2"})
			eng := engineFor(e)
			eng.Step = func(int, string) {
				if !d.Exited() {
					d.Kill(t)
				}
			}
			out := eng.Clean(context.Background(), []cleanup.Candidate{tc.cand(d)})[0]
			if out.Skipped == nil || out.Skipped.SkipReason != api.SkipExited {
				t.Errorf("outcome swept %+v skipped %+v failed %+v; want skipped: exited", out.Swept, out.Skipped, out.Failed)
			}
			for _, j := range e.JournalAll() {
				if j.Step != api.PathHTTPShutdown {
					t.Errorf("journal %+v: a signal went to a daemon that had exited", j)
				}
			}
		})
	}
}

// TestEngine_TokenProofInterruptSendsNothing: an interrupt after the token
// proof and before the shutdown request starts no step: no intent line, no
// request, the daemon keeps running, the candidate fails "interrupted".
func TestEngine_TokenProofInterruptSendsNothing(t *testing.T) {
	e := testenv.New(t)
	d := e.SpawnDaemon(testenv.DaemonOpts{Port: testenv.FreePorts(t, api.SyncRange, 1)[0], Version: "3.2.2"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := engineFor(e)
	eng.Step = func(int, string) { cancel() }
	out := eng.Clean(ctx, []cleanup.Candidate{tokenCandidate(d)})[0]
	if out.Failed == nil || out.Failed.FailureReason != cleanup.FailInterrupted {
		t.Errorf("outcome swept %+v skipped %+v failed %+v; want failed: interrupted", out.Swept, out.Skipped, out.Failed)
	}
	if j := e.JournalAll(); len(j) != 0 {
		t.Errorf("journal %+v, want nothing: no step was started", j)
	}
	if !d.Alive() || !testenv.Listening(d.Port) {
		t.Error("the daemon was stopped after the interrupt")
	}
}

// TestReaper_RecordedDaemonThatRecoversIsNotReaped: ensure-running finds
// the recorded daemon not answering (here: stopped), so it will not reuse
// it; if that daemon answers again by the time the startup reaper scans (a
// machine under load, a laptop waking up), it is still the recorded daemon
// and the reaper must not touch it (SPEC §7 row 5, §8: never the recorded
// singleton). The daemon is resumed between the two, inside the reaper.
func TestReaper_RecordedDaemonThatRecoversIsNotReaped(t *testing.T) {
	e := testenv.New(t)
	first := start(t, e)
	testenv.WedgePID(t, first.PID)
	layout, err := paths.At(e.Home)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	real := doctor.StartupReaper(version.Current(), testenv.Bin())
	var reaped []api.SweptEntry
	reaper := func(ctx context.Context, l paths.Layout) ([]api.SweptEntry, error) {
		defer cancel() // the test needs no new daemon: the spawn that follows gives up
		if err := syscall.Kill(first.PID, syscall.SIGCONT); err != nil {
			t.Fatalf("resuming pid %d: %v", first.PID, err)
		}
		waitAnswers(t, first.Port)
		var err error
		reaped, err = real(ctx, l)
		return reaped, err
	}
	_, _ = lifecycle.EnsureRunning(ctx, lifecycle.Options{Layout: layout, Version: version.Current(), Exe: testenv.Bin(), Intent: lifecycle.IntentSync, Reaper: reaper})
	for _, s := range reaped {
		if s.PID == first.PID {
			t.Errorf("the startup reaper stopped the recorded daemon: %+v", s)
		}
	}
	if !procinfo.Alive(first.PID) {
		t.Fatal("the recorded daemon is gone after ensure-running")
	}
	for _, j := range e.JournalAll() {
		if j.PID == first.PID {
			t.Errorf("journal %+v: something was sent to the recorded daemon", j)
		}
	}
}

// waitAnswers waits until the daemon on port answers health.
func waitAnswers(t *testing.T, port int) {
	t.Helper()
	for range 1500 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.New(port).Health(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("port %d never answered health", port)
}

// TestReaper_HungRecordedDaemonIsLeftAlone: `sync start` with a recorded
// daemon that does not answer starts a fresh one and sends the hung one
// nothing — no request, no signal (SPEC §8: the startup reaper acts on
// safe_auto only; a hung recorded daemon is operator_required).
func TestReaper_HungRecordedDaemonIsLeftAlone(t *testing.T) {
	e := testenv.New(t)
	first := start(t, e)
	testenv.WedgePID(t, first.PID)
	again := start(t, e)
	if !again.Started || again.PID == first.PID {
		t.Errorf("sync start = %+v, want a fresh daemon next to the hung one", again)
	}
	for _, s := range again.Reaped {
		if s.PID == first.PID {
			t.Errorf("the startup reaper stopped the hung recorded daemon: %+v", s)
		}
	}
	if !procinfo.Alive(first.PID) {
		t.Fatal("the hung recorded daemon is gone after sync start")
	}
	for _, j := range e.JournalAll() {
		if j.PID == first.PID || j.Port == first.Port {
			t.Errorf("journal %+v: something was sent to the hung recorded daemon", j)
		}
	}
}
