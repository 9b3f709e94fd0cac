package cleanup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

// Bounded waits after each escalation step. A daemon that accepted a
// shutdown exits in milliseconds (its own grace is 2 s for in-flight
// requests); SIGTERM gets the same grace; SIGKILL is final and only needs
// the kernel to tear the process down.
const (
	DefaultShutdownWait  = 2500 * time.Millisecond
	DefaultTerminateWait = 2500 * time.Millisecond
	DefaultKillWait      = 2 * time.Second
)

// Candidate is one listener the cleanup may act on.
type Candidate struct {
	Record api.IdentityRecord
	// Identity is the (pid, start time) read by the scan. A candidate
	// without a start time cannot be re-checked and is never signalled.
	Identity procinfo.Identity
	// Token authenticates a graceful shutdown request; empty when the
	// candidate has no per-instance record in this scope.
	Token string
	// ReportedPID is the pid the daemon's own per-instance record names.
	// Reporting only (the swept entry of a token-proven candidate whose
	// pid the platform cannot name): it is never signalled.
	ReportedPID int
}

// Engine stops candidates of one family.
type Engine struct {
	Family  string // api.FamilySync or api.FamilyDashboard
	Actor   string // who is cleaning, for the journal
	Journal *Journal
	// Waits after each step; zero values take the defaults.
	ShutdownWait, TerminateWait, KillWait time.Duration
	// Progress, when set, is told of each candidate as it finishes.
	Progress func(port int, outcome string)
	// Step, when set, is told when each escalation step starts, with a
	// line for a person ("no answer to shutdown; sending SIGTERM").
	Step func(port int, msg string)
	// Protected, when set, is asked before every step whether a pid is
	// now the family's recorded live daemon (a state file written since
	// the scan); such a pid is never signalled.
	Protected func(pid int) bool
}

// Outcome is what happened to one candidate: exactly one of Swept, Skipped
// or Failed is set.
type Outcome struct {
	Swept   *api.SweptEntry
	Skipped *api.SkippedEntry
	Failed  *api.FailedEntry
}

// FailInterrupted is the failure reason of a candidate left unfinished by an
// interrupt (Ctrl-C, SIGTERM): no further step was started (SPEC §8).
const FailInterrupted = "interrupted"

// Clean stops every candidate concurrently and returns their outcomes in the
// order given. A cancelled ctx starts no further step.
func (e *Engine) Clean(ctx context.Context, cands []Candidate) []Outcome {
	out := make([]Outcome, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Go(func() {
			out[i] = e.cleanOne(ctx, c)
			if e.Progress != nil {
				e.Progress(c.Record.Port, describe(out[i]))
			}
		})
	}
	wg.Wait()
	return out
}

func describe(o Outcome) string {
	switch {
	case o.Swept != nil:
		return "stopped (" + o.Swept.CleanupPath + ")"
	case o.Skipped != nil:
		return "skipped: " + o.Skipped.SkipReason
	}
	return "failed: " + o.Failed.FailureReason
}

// errGone reports a candidate whose process ended before a step.
var errGone = errors.New("process has exited")

// terminateName is the terminate step as a person reads it in the progress
// lines: on Windows it is TerminateProcess, not a signal.
var terminateName = map[bool]string{true: "SIGTERM", false: "TerminateProcess"}[procinfo.SeparateKill]

// step is one escalation step after the graceful request.
type step struct {
	path string
	sig  os.Signal
	name string
	wait time.Duration
}

func (e *Engine) cleanOne(ctx context.Context, c Candidate) Outcome {
	if ctx.Err() != nil {
		return e.fail(c, FailInterrupted)
	}
	if tokenOnly(c) {
		return e.shutdownOnly(ctx, c)
	}
	if err := e.check(c); err != nil {
		if errors.Is(err, errGone) {
			return e.skipExited(c) // nothing was sent: nothing to do
		}
		return e.fail(c, err.Error())
	}
	pin, err := procinfo.Pin(c.Identity)
	if err != nil {
		if ok, _ := procinfo.SameProcess(c.Identity); !ok && !procinfo.Alive(c.Identity.PID) {
			return e.skipExited(c)
		}
		return e.fail(c, "pinning "+c.Identity.String()+": "+err.Error())
	}
	defer pin.Release()

	last := "" // the step already taken, should the process go during its wait
	lead := "" // why the next step is needed, for the progress line
	started := time.Now()
	if c.Token != "" {
		if out, ok := e.begin(ctx, c, api.PathHTTPShutdown, fmt.Sprintf("asking pid %d to shut down", c.Identity.PID)); !ok {
			return out
		}
		err := client.New(c.Record.Port).Shutdown(ctx, c.Token)
		e.journal(c, api.PathHTTPShutdown, outcomeOf(err))
		if ctx.Err() != nil {
			return e.fail(c, FailInterrupted)
		}
		if err == nil {
			if e.waitGone(ctx, pin, c.Record.Port, or(e.ShutdownWait, DefaultShutdownWait)) {
				return e.swept(c, api.PathHTTPShutdown)
			}
			last = api.PathHTTPShutdown
			lead = "still there after " + elapsed(started) + "; "
		} else {
			lead = "no answer to shutdown; "
		}
	}
	steps := []step{
		{api.PathTerminate, syscall.SIGTERM, terminateName, or(e.TerminateWait, DefaultTerminateWait)},
		{api.PathKill, syscall.SIGKILL, "SIGKILL", or(e.KillWait, DefaultKillWait)},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return e.fail(c, FailInterrupted)
		}
		if s.sig == syscall.SIGKILL && !procinfo.SeparateKill {
			continue // TerminateProcess is already final (Windows)
		}
		if err := e.check(c); err != nil {
			switch {
			case !errors.Is(err, errGone):
			case last != "" && e.waitGone(ctx, pin, c.Record.Port, 0):
				return e.swept(c, last) // it went during the previous step's wait
			case last == "":
				// Nothing got through to it (no shutdown request, or one
				// that failed): it exited on its own (SPEC §8).
				return e.skipExited(c)
			}
			return e.fail(c, "before "+s.path+": "+err.Error())
		}
		if out, ok := e.begin(ctx, c, s.path, lead+"sending "+s.name); !ok {
			return out
		}
		err := pin.Signal(s.sig)
		e.journal(c, s.path, outcomeOf(err))
		if err != nil && !errors.Is(err, os.ErrProcessDone) {
			return e.fail(c, s.path+" refused: "+err.Error())
		}
		stepStart := time.Now()
		if e.waitGone(ctx, pin, c.Record.Port, s.wait) {
			return e.swept(c, s.path)
		}
		if ctx.Err() != nil {
			return e.fail(c, FailInterrupted)
		}
		last = s.path
		lead = "still there after " + elapsed(stepStart) + "; "
	}
	if pin.Exited() {
		return e.fail(c, fmt.Sprintf("process exited but port %d still accepts connections", c.Record.Port))
	}
	return e.fail(c, "survived terminate and kill")
}

// begin starts a step: it announces it, and then — unless an interrupt came
// in meanwhile — writes and flushes its intent line. When it reports false
// nothing may be sent, and the outcome says why: an interrupt between the
// pre-step check and the request or signal starts no further step.
func (e *Engine) begin(ctx context.Context, c Candidate, path, msg string) (Outcome, bool) {
	e.step(c, "%s", msg)
	if ctx.Err() != nil {
		return e.fail(c, FailInterrupted), false
	}
	if err := e.intent(c, path); err != nil {
		return e.fail(c, err.Error()), false
	}
	if ctx.Err() != nil { // came in while the intent was flushed
		e.journal(c, path, outcomeInterrupted)
		return e.fail(c, FailInterrupted), false
	}
	return Outcome{}, true
}

// outcomeInterrupted closes an intent line whose step an interrupt stopped
// before anything was sent.
const outcomeInterrupted = "not sent: interrupted"

// intent writes and flushes the journal line of a step before it is taken;
// when that fails, the step is not taken (audit before action, SPEC §8).
func (e *Engine) intent(c Candidate, path string) error {
	err := e.Journal.Append(api.JournalEntry{
		Actor: e.Actor, Family: e.Family, PID: c.Identity.PID, Port: c.Record.Port, Step: path, Outcome: OutcomeIntent,
	})
	if err != nil {
		return fmt.Errorf("before %s: %w", path, err)
	}
	return nil
}

// step tells the Step hook, when set, that an escalation step starts.
func (e *Engine) step(c Candidate, format string, args ...any) {
	if e.Step != nil {
		e.Step(c.Record.Port, fmt.Sprintf(format, args...))
	}
}

// elapsed renders a wait for a person: "1 s", "2.5 s".
func elapsed(since time.Time) string {
	d := time.Since(since).Round(100 * time.Millisecond)
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

func (e *Engine) skipExited(c Candidate) Outcome {
	return Outcome{Skipped: &api.SkippedEntry{
		PID: c.Record.PID, Port: c.Record.Port, CleanupClass: c.Record.CleanupClass, SkipReason: api.SkipExited,
	}}
}

// check is the pre-signal re-check: the port is inside the family's range,
// the family is the engine's own, the class allows action, and the pid is
// still the classified process (same start time), owned by this user and
// shaped like a daemon of the family.
func (e *Engine) check(c Candidate) error {
	if err := e.checkRecord(c); err != nil {
		return err
	}
	return e.checkProcess(c)
}

// checkRecord is the part of the re-check that needs no process: range,
// family and class.
func (e *Engine) checkRecord(c Candidate) error {
	r, ok := api.RangeOf(e.Family)
	switch {
	case !ok:
		return fmt.Errorf("unknown family %q", e.Family)
	case !r.Contains(c.Record.Port):
		return fmt.Errorf("port %d is outside the %s range [%d, %d)", c.Record.Port, e.Family, r.Lo, r.Hi)
	case c.Record.DaemonFamily != nil && *c.Record.DaemonFamily != e.Family:
		return fmt.Errorf("family %q is not %q", *c.Record.DaemonFamily, e.Family)
	case c.Record.CleanupClass == api.ClassNeverTouch || c.Record.IsRecordedSingleton:
		return fmt.Errorf("class %s is never acted on", c.Record.CleanupClass)
	}
	return nil
}

// checkProcess re-checks that the pid is still the classified process.
func (e *Engine) checkProcess(c Candidate) error {
	switch {
	case c.Identity.PID <= 0 || c.Identity.StartTime == 0:
		return errors.New("process identity (pid and start time) unknown")
	case e.Protected != nil && e.Protected(c.Identity.PID):
		return fmt.Errorf("pid %d is now the recorded live daemon", c.Identity.PID)
	}
	info, err := procinfo.Read(c.Identity.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errGone
	case err != nil:
		return fmt.Errorf("re-reading pid %d: %w", c.Identity.PID, err)
	case info.Zombie:
		return errGone
	case info.StartTime != c.Identity.StartTime:
		return fmt.Errorf("pid %d is now another process (start time changed)", c.Identity.PID)
	case info.UID != procinfo.CurrentUID():
		return fmt.Errorf("pid %d belongs to uid %d, not this user", c.Identity.PID, info.UID)
	case !info.ArgvReadable || !shapedAs(e.Family, info.Argv):
		return fmt.Errorf("pid %d is no longer shaped like a %s daemon", c.Identity.PID, e.Family)
	}
	return nil
}

func shapedAs(family string, argv []string) bool {
	if family == api.FamilyDashboard {
		return classify.DashboardShape(argv)
	}
	return classify.SpawnShape(argv).OK
}

// waitGone waits until the pinned process has exited and the port is
// closed, polling with a growing interval; an interrupt ends the wait.
func (e *Engine) waitGone(ctx context.Context, pin *procinfo.Pinned, port int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	delay := time.Millisecond
	for {
		if pin.Exited() && portClosed(port) {
			return true
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
}

func (e *Engine) journal(c Candidate, step, outcome string) {
	_ = e.Journal.Append(api.JournalEntry{
		Actor: e.Actor, Family: e.Family, PID: c.Identity.PID, Port: c.Record.Port, Step: step, Outcome: outcome,
	})
}

func outcomeOf(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "sent"
}

func (e *Engine) swept(c Candidate, path string) Outcome {
	r := c.Record
	return Outcome{Swept: &api.SweptEntry{
		PID: c.Identity.PID, Port: r.Port, PackageVersion: r.PackageVersion, ProtocolVersion: r.ProtocolVersion,
		CleanupClass: r.CleanupClass, CleanupPath: path, Reason: r.Reason,
	}}
}

func (e *Engine) fail(c Candidate, reason string) Outcome {
	return Outcome{Failed: &api.FailedEntry{
		PID: c.Record.PID, Port: c.Record.Port, CleanupClass: c.Record.CleanupClass, FailureReason: reason,
	}}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
