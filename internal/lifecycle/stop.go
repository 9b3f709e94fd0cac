package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// exitWait bounds the wait for a daemon that accepted a shutdown request. Its
// own graceful exit is bounded by two seconds; five leaves room for a loaded
// machine.
const exitWait = 5 * time.Second

// ErrNotRecorded reports a scope whose state file names no daemon.
var ErrNotRecorded = errors.New("no sync daemon is recorded for this scope")

// pidAlive reports whether pid runs (a zombie has exited).
var pidAlive = procinfo.Alive

// Stop asks the recorded daemon to exit, waits until it has, and clears the
// state file. It returns the record of the daemon it stopped.
func Stop(ctx context.Context, layout paths.Layout) (statefile.Record, error) {
	unlock, err := Lock(ctx, layout.LockFile())
	if err != nil {
		return statefile.Record{}, err
	}
	defer unlock()
	rec, err := statefile.Read(layout.StateFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return rec, ErrNotRecorded
	case err != nil:
		_ = statefile.Remove(layout.StateFile())
		return rec, fmt.Errorf("%w (%v; removed it)", ErrNotRecorded, err)
	}
	if why := mustNotStop(rec); why != "" {
		return rec, &RefusedError{StateFile: layout.StateFile(), Why: why}
	}
	switch verdict, _ := Inspect(ctx, layout, rec); verdict {
	case Healthy:
	case Dead:
		_ = statefile.Remove(layout.StateFile())
		return rec, fmt.Errorf("%w (it named pid %d, which is not running; cleared it)", ErrNotRecorded, rec.PID)
	default:
		// The token goes only to the daemon that proved it holds it. The
		// record is cleared so auth doctor can classify what is there.
		_ = statefile.Remove(layout.StateFile())
		return rec, fmt.Errorf("recorded daemon pid %d on port %d is %s: cleared its record, did not stop it; run spec-kitty auth doctor --reset --force",
			rec.PID, rec.Port, verdict)
	}
	if err := shutdownAndWait(ctx, layout, rec, cleanup.ActorSyncStop); err != nil {
		return rec, err
	}
	return rec, statefile.Remove(layout.StateFile())
}

// RefusedError reports a state file that names something no command may
// stop. The record is left in place: it is evidence, and removing it is the
// operator's call once they have checked what it names.
type RefusedError struct {
	StateFile string
	Why       string // what the record names and why it is off limits
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("not stopping: the state file names %s; check what it is (spec-kitty auth doctor, ps), then remove %s",
		e.Why, e.StateFile)
}

// mustNotStop says why the process a record names is off limits to sync
// stop — pid 1 or below, a port outside the sync range, another user's
// process — or "" when it may be asked to stop. It runs before any request
// is sent, so not even a health probe goes to a port outside the range.
func mustNotStop(rec statefile.Record) string {
	switch {
	case rec.PID <= 1:
		return fmt.Sprintf("pid %d, which is never a sync daemon", rec.PID)
	case !api.SyncRange.Contains(rec.Port):
		return fmt.Sprintf("port %d, outside the sync range %d-%d", rec.Port, api.SyncRange.Lo, api.SyncRange.Hi-1)
	}
	if info, err := procinfo.Read(rec.PID); err == nil && info.UID >= 0 && info.UID != procinfo.CurrentUID() {
		return fmt.Sprintf("pid %d, a process of another user (uid %d)", rec.PID, info.UID)
	}
	return ""
}

// shutdownAndWait asks the daemon of rec to exit and waits until its
// process is gone and its port is free.
func shutdownAndWait(ctx context.Context, layout paths.Layout, rec statefile.Record, actor string) error {
	j := cleanup.NewJournal(layout.Journal())
	if err := cleanup.RequestShutdown(ctx, j, actor, api.FamilySync, rec.PID, rec.Port, rec.Token); err != nil {
		return fmt.Errorf("asking daemon pid %d to stop: %w; run spec-kitty auth doctor", rec.PID, err)
	}
	if !WaitGone(ctx, rec.PID, rec.Port, exitWait) {
		return fmt.Errorf("daemon pid %d accepted shutdown but is still running after %v; run spec-kitty auth doctor", rec.PID, exitWait)
	}
	return nil
}

// WaitGone waits until pid has exited and port is free, polling with a
// growing interval; it reports whether both happened within limit.
func WaitGone(ctx context.Context, pid, port int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	delay := time.Millisecond
	for {
		if !pidAlive(pid) && spawn.PortFree(port) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(delay)
		delay = min(2*delay, 25*time.Millisecond)
	}
}

// UnusableStateNote says which state file cannot be used, why, and the
// command that replaces it: a note a person can act on without a search.
func UnusableStateNote(path string, err error) string {
	return fmt.Sprintf("unusable state file %s: %v; spec-kitty sync start replaces it", path, err)
}

// Status reports the recorded daemon; with no daemon running, the queue
// depth is read from the queue itself.
func Status(ctx context.Context, layout paths.Layout) api.StatusResult {
	res := api.StatusResult{Notes: []string{}}
	rec, err := statefile.Read(layout.StateFile())
	if err == nil {
		res.PID, res.Port, res.URL = &rec.PID, &rec.Port, &rec.URL
		verdict, h := Inspect(ctx, layout, rec)
		if verdict == Healthy {
			res.Healthy = true
			res.PackageVersion, res.ProtocolVersion = &h.PackageVersion, &h.ProtocolVersion
			if h.Sync != nil {
				res.Sync = h.Sync.UploadStatus
			}
			res.LogRotationError = h.LogRotationError
			return res
		}
		res.Notes = append(res.Notes, fmt.Sprintf("recorded daemon pid %d on port %d is %s", rec.PID, rec.Port, verdict))
	} else if !errors.Is(err, os.ErrNotExist) {
		res.Notes = append(res.Notes, UnusableStateNote(layout.StateFile(), err))
	}
	counts, err := queue.ReadCounts(layout.QueueDB())
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("reading queue: %v", err))
	}
	res.Sync.QueueDepth, res.Sync.Parked = counts.Depth, counts.Parked
	return res
}
