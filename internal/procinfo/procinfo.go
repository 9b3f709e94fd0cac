// Package procinfo reads what the operating system knows about a process:
// its identity (pid and start time), owner, argv and executable. Process
// identity is always the pair (pid, start time read from the OS), never a
// pid alone and never a time the process reported about itself, so a pid
// that was reused between a scan and a signal is recognised as a stranger.
//
// Linux reads /proc and pins with a pidfd; macOS reads kinfo_proc and
// kern.procargs2 and re-checks the identity immediately before every
// signal; Windows reads the command line, creation time and owner SID and
// pins with a process handle that TerminateProcess goes through. Any other
// platform degrades: it cannot read argv or start times, so it cannot pin
// an identity and never lets a caller signal a process it could not
// identify (SPEC §14).
package procinfo

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// Identity names one process over its lifetime: a pid together with the
// start time the OS reports for it (clock ticks since boot on Linux,
// FILETIME 100 ns ticks on Windows).
type Identity struct {
	PID       int
	StartTime uint64
}

// String formats the identity for error messages and logs.
func (id Identity) String() string {
	return fmt.Sprintf("pid %d (start %d)", id.PID, id.StartTime)
}

// Info is what the OS says about one process.
type Info struct {
	PID int
	// UID is the real user id; -1 when unknown.
	UID int
	// StartTime is the start time read from the OS; 0 when unknown.
	StartTime uint64
	// Argv is the command line. ArgvReadable says whether it could be read
	// at all: the empty argv of a kernel thread is still readable.
	Argv         []string
	ArgvReadable bool
	// Exe is the resolved executable; "" when it cannot be read (another
	// user's process, a kernel thread, a platform that cannot tell).
	Exe string
	// Zombie is true for a process that has exited but was not reaped yet.
	Zombie bool
}

// Identity returns the (pid, start time) pair of the process.
func (i Info) Identity() Identity { return Identity{PID: i.PID, StartTime: i.StartTime} }

// ErrIdentityChanged reports that a pid now names another process than the
// one that was identified: its start time differs.
var ErrIdentityChanged = errors.New("process identity changed")

// CurrentUID returns the real user id of this process (on Windows the
// stand-in for "this user" that Read reports for our own processes); -1 on
// platforms without one.
func CurrentUID() int { return currentUID() }

// Pinned is a handle on one identified process. On Linux it holds a pidfd,
// so a signal sent through it reaches that process or nothing, even if the
// pid is reused in between.
type Pinned struct {
	id   Identity
	proc *os.Process
	// h is the process handle on Windows, opened at check time; nil
	// elsewhere. While it is open the pid cannot be reused.
	h procHandle
}

// Pin takes a handle on the process id names. It fails with
// ErrIdentityChanged when the pid now belongs to another process, and with
// an error wrapping os.ErrProcessDone when the process has exited (a zombie
// counts as exited).
func Pin(id Identity) (*Pinned, error) {
	if id.PID <= 0 {
		return nil, fmt.Errorf("pinning %v: invalid pid", id)
	}
	if openHandle != nil {
		return pinHandle(id, openHandle)
	}
	// The handle is taken first and the identity checked afterwards: a
	// process alive with the recorded start time after the handle exists
	// was the one the handle refers to, since pids are not reused while
	// their process lives.
	proc, err := os.FindProcess(id.PID)
	if err != nil {
		return nil, fmt.Errorf("pinning %v: %w", id, err)
	}
	if err := checkIdentity(id); err != nil {
		_ = proc.Release()
		return nil, fmt.Errorf("pinning %v: %w", id, err)
	}
	return &Pinned{id: id, proc: proc}, nil
}

// Identity returns the identity the handle was pinned to.
func (p *Pinned) Identity() Identity { return p.id }

// Signal sends sig to the pinned process. It re-checks the identity first
// (a no-op safety net where the pidfd already guarantees it) and returns an
// error wrapping os.ErrProcessDone once the process has exited.
func (p *Pinned) Signal(sig os.Signal) error {
	if p.h != nil {
		return p.terminate()
	}
	if err := checkIdentity(p.id); err != nil {
		return fmt.Errorf("signalling %v: %w", p.id, err)
	}
	if err := p.proc.Signal(sig); err != nil {
		return fmt.Errorf("signalling %v: %w", p.id, err)
	}
	return nil
}

// Exited reports whether the pinned process has exited (reaped or zombie).
// When that cannot be determined it reports false, so a caller waiting for
// an exit times out rather than assuming one.
func (p *Pinned) Exited() bool {
	if p.h != nil {
		return p.h.exited()
	}
	return exited(p)
}

// Release frees the handle. The process itself is not affected.
func (p *Pinned) Release() error {
	if p.h != nil {
		if err := p.h.close(); err != nil {
			return fmt.Errorf("releasing %v: %w", p.id, err)
		}
		return nil
	}
	if err := p.proc.Release(); err != nil {
		return fmt.Errorf("releasing %v: %w", p.id, err)
	}
	return nil
}

// SameProcess reports whether id.PID still names the process id was taken
// from: same start time and not a zombie. An exited or reused pid is false
// with a nil error; an error means the OS could not tell (on platforms
// without start times, always), and callers must then assume "no".
func SameProcess(id Identity) (bool, error) {
	err := checkIdentity(id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, ErrIdentityChanged):
		return false, nil
	}
	return false, fmt.Errorf("checking %v: %w", id, err)
}

// checkIdentity returns nil when id still names a live, non-zombie process,
// an error wrapping os.ErrProcessDone when it has exited, and
// ErrIdentityChanged when the pid belongs to another process now.
func checkIdentity(id Identity) error {
	if id.PID <= 0 {
		return fmt.Errorf("invalid pid %d", id.PID)
	}
	start, zombie, err := readStat(id.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.ErrProcessDone
	case err != nil:
		return err
	case start != id.StartTime:
		return fmt.Errorf("%w: start time is now %d", ErrIdentityChanged, start)
	case zombie:
		return os.ErrProcessDone
	}
	return nil
}

// SeparateKill reports whether the escalation has a kill step after the
// terminate step. On Windows TerminateProcess is already final, so there
// the terminate step is the last one.
const SeparateKill = runtime.GOOS != "windows"
