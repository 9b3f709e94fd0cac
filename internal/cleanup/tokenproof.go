package cleanup

import (
	"context"
	"fmt"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

// tokenOnly reports a candidate whose pid the platform could not name but
// which proved it holds this scope's token (SPEC §7 row 6): its only
// cleanup is the authenticated shutdown request.
func tokenOnly(c Candidate) bool {
	return c.Identity.PID <= 0 && c.Record.IdentitySource == api.SourceTokenProof
}

// shutdownOnly stops a token-proven candidate with the authenticated
// shutdown and nothing else: no signal ever goes to a process whose
// identity is unknown. Immediately before the request the listener must
// prove the token again, so the token is never sent to a process that took
// the port over since the scan.
func (e *Engine) shutdownOnly(ctx context.Context, c Candidate) Outcome {
	if err := e.checkRecord(c); err != nil {
		return e.fail(c, err.Error())
	}
	if c.Token == "" {
		return e.fail(c, "token proof without a token; identity unknown, no signal sent")
	}
	cl := client.New(c.Record.Port)
	if err := cl.Prove(ctx, c.Token); err != nil {
		switch {
		case ctx.Err() != nil:
			return e.fail(c, FailInterrupted)
		case portClosed(c.Record.Port):
			return e.skipExited(c) // gone before anything was sent: nothing to do
		}
		return e.fail(c, "before http_shutdown: token proof failed: "+err.Error())
	}
	// Audit before action (SPEC §8): the intent is on disk before the
	// request goes out, or nothing goes out.
	if out, ok := e.begin(ctx, c, api.PathHTTPShutdown, "asking the token-proven daemon to shut down"); !ok {
		return out
	}
	err := cl.Shutdown(ctx, c.Token)
	e.journal(c, api.PathHTTPShutdown, outcomeOf(err))
	switch {
	case ctx.Err() != nil:
		return e.fail(c, FailInterrupted)
	case err != nil && portClosed(c.Record.Port):
		// It went before the request reached it (a daemon retiring on
		// its own): nothing was needed.
		return e.skipExited(c)
	case err != nil:
		return e.fail(c, "http_shutdown refused: "+err.Error()+"; identity unknown, no signal sent")
	}
	deadline := time.Now().Add(or(e.ShutdownWait, DefaultShutdownWait))
	if e.waitPortClosed(ctx, c.Record.Port, time.Until(deadline)) {
		waitReportedExit(c.ReportedPID, deadline)
		out := e.swept(c, api.PathHTTPShutdown)
		out.Swept.PID = c.ReportedPID
		return out
	}
	if ctx.Err() != nil {
		return e.fail(c, FailInterrupted)
	}
	return e.fail(c, fmt.Sprintf("port %d still listens after http_shutdown; identity unknown, no signal sent", c.Record.Port))
}

// waitPortClosed waits until a connect to port is refused: with no process
// to watch, the closed port is the only evidence that the daemon is gone.
func (e *Engine) waitPortClosed(ctx context.Context, port int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	delay := time.Millisecond
	for !portClosed(port) {
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 20*time.Millisecond)
	}
	return true
}

// waitReportedExit waits, within the same deadline, for the pid the daemon's
// own record names to exit, so a caller that looks right after the reply
// finds it gone. It only watches: a pid that is still alive at the deadline
// (or reused) changes nothing, the closed port is the evidence.
func waitReportedExit(pid int, deadline time.Time) {
	delay := time.Millisecond
	for pid > 0 && procinfo.Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
}
