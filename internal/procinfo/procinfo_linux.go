package procinfo

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/prometheus/procfs"
)

// readAttempts bounds how often Read starts over when the pid was reused
// while it was reading: twice in a row within microseconds means something
// is spawning processes as fast as the pid space allows, and the caller is
// better served by an error than by a loop.
const readAttempts = 2

// errRaced reports that the start time changed during one read.
var errRaced = errors.New("process changed while it was read")

// procFS opens /proc once per process lifetime.
var procFS = sync.OnceValues(func() (procfs.FS, error) {
	return procfs.NewFS(procfs.DefaultMountPoint)
})

// Read returns what /proc says about pid. A pid that does not exist (or
// vanishes while being read) is an error wrapping os.ErrNotExist. A command
// line or executable that cannot be read, as for another user's process, is
// not an error: ArgvReadable is false or Exe is "".
func Read(pid int) (Info, error) {
	if pid <= 0 {
		return Info{}, fmt.Errorf("reading process %d: invalid pid", pid)
	}
	for range readAttempts {
		info, err := readOnce(pid)
		if !errors.Is(err, errRaced) {
			return info, err
		}
	}
	return Info{}, fmt.Errorf("reading process %d: %w", pid, ErrIdentityChanged)
}

// readOnce reads stat, cmdline, exe and status, then stat again: the two
// start times agree only if every file in between described one process.
func readOnce(pid int) (Info, error) {
	proc, err := openProc(pid)
	if err != nil {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, err)
	}
	st, err := proc.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("reading stat of process %d: %w", pid, notExist(err))
	}
	info := Info{PID: pid, UID: -1, StartTime: st.Starttime}
	argv, err := proc.CmdLine()
	switch {
	case err == nil:
		info.Argv, info.ArgvReadable = argv, true
	case vanished(err):
		return Info{}, fmt.Errorf("reading cmdline of process %d: %w", pid, notExist(err))
	}
	// Executable reports a missing link (kernel thread, zombie) as "" and
	// a permission error as an error: both leave Exe unknown.
	if exe, err := proc.Executable(); err == nil {
		info.Exe = exe
	}
	status, err := proc.NewStatus()
	switch {
	case err == nil:
		info.UID = int(status.UIDs[0])
	case vanished(err):
		return Info{}, fmt.Errorf("reading status of process %d: %w", pid, notExist(err))
	}
	again, err := proc.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("reading stat of process %d: %w", pid, notExist(err))
	}
	if again.Starttime != st.Starttime {
		return Info{}, errRaced
	}
	info.Zombie = isZombie(again.State)
	return info, nil
}

// Alive reports whether pid names a process that has not exited. A zombie
// has exited: the machine's pid 1 may never reap it.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, zombie, err := readStat(pid)
	return err == nil && !zombie
}

// readStat returns the start time and zombie state of pid; an error wraps
// os.ErrNotExist when the process does not exist.
func readStat(pid int) (start uint64, zombie bool, err error) {
	proc, err := openProc(pid)
	if err != nil {
		return 0, false, err
	}
	st, err := proc.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("reading stat of process %d: %w", pid, notExist(err))
	}
	return st.Starttime, isZombie(st.State), nil
}

func openProc(pid int) (procfs.Proc, error) {
	fs, err := procFS()
	if err != nil {
		return procfs.Proc{}, fmt.Errorf("opening /proc: %w", err)
	}
	proc, err := fs.Proc(pid)
	if err != nil {
		return procfs.Proc{}, notExist(err)
	}
	return proc, nil
}

// exited asks the pidfd first (it fails once the process was reaped) and
// /proc second (a zombie is alive to the pidfd but has exited).
func exited(p *Pinned) bool {
	if err := p.proc.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
		return true
	}
	err := checkIdentity(p.id)
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, ErrIdentityChanged)
}

// isZombie: Z is a zombie, X is dead (only seen for an instant).
func isZombie(state string) bool { return state == "Z" || state == "X" }

// vanished reports whether err means the process is gone: its /proc
// directory disappeared (ENOENT) or the kernel refused a dying one (ESRCH).
func vanished(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// notExist makes a vanished-process error match os.ErrNotExist.
func notExist(err error) error {
	if errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", os.ErrNotExist, err)
	}
	return err
}
