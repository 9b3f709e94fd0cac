//go:build darwin

package procinfo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// sZomb is p_stat of a process that has exited but was not reaped (SZOMB
// in <sys/proc.h>).
const sZomb = 5

// Read returns what macOS says about pid, from sysctl alone: start time,
// real uid and state from kern.proc.pid (kinfo_proc), argv and the exec
// path from kern.procargs2. Nothing is loaded at run time (no libproc
// through purego, no fakecgo hooking the runtime at start-up). Another
// user's argv is unreadable (ArgvReadable false), which the classifier
// treats as "cannot tell", never as a match.
func Read(pid int) (Info, error) {
	if pid <= 0 {
		return Info{}, fmt.Errorf("reading process %d: invalid pid", pid)
	}
	kp, err := kinfo(pid)
	if err != nil {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, err)
	}
	info := Info{
		PID:       pid,
		UID:       int(kp.Eproc.Pcred.P_ruid),
		StartTime: startOf(kp),
		Zombie:    kp.Proc.P_stat == sZomb,
	}
	if exe, argv, err := procArgs(pid); err == nil {
		info.Argv, info.ArgvReadable = argv, true
		info.Exe = exe
	}
	// The identity is read again after argv: if the pid was reused in
	// between, the argv may be a stranger's, so nothing read is kept.
	if again, err := kinfo(pid); err != nil || startOf(again) != info.StartTime {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, ErrIdentityChanged)
	}
	return info, nil
}

// procArgs reads argv and the executable of pid from kern.procargs2. The
// kernel records the exec path as given to execve; a relative one says
// nothing about which file ran, so only an absolute path is kept.
func procArgs(pid int) (exe string, argv []string, err error) {
	buf, err := unix.SysctlRaw("kern.procargs2", pid)
	if err != nil {
		return "", nil, fmt.Errorf("reading kern.procargs2: %w", err)
	}
	path, argv, err := ParseProcArgs2(buf)
	if err != nil {
		return "", nil, err
	}
	if filepath.IsAbs(path) {
		exe = filepath.Clean(path)
	}
	return exe, argv, nil
}

// kinfo reads the kinfo_proc of pid; a pid with no process is
// os.ErrNotExist.
func kinfo(pid int) (*unix.KinfoProc, error) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil || kp.Proc.P_pid != int32(pid) {
		if !Alive(pid) {
			return nil, os.ErrNotExist
		}
		if err == nil {
			err = errors.New("kinfo_proc names another pid")
		}
		return nil, err
	}
	return kp, nil
}

// startOf is the process start time in microseconds since the epoch, as
// the kernel recorded it.
func startOf(kp *unix.KinfoProc) uint64 {
	t := kp.Proc.P_starttime
	return uint64(t.Sec)*1_000_000 + uint64(t.Usec)
}

// Alive reports whether pid names a running process.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return aliveOS(pid)
}

// readStat returns the start time and zombie state of pid. macOS has no
// pidfd, so Pinned.Signal calls this immediately before every signal: the
// remaining window is the few microseconds between that read and kill(2)
// (see the ADR's residual risks).
func readStat(pid int) (start uint64, zombie bool, err error) {
	kp, err := kinfo(pid)
	if err != nil {
		return 0, false, err
	}
	return startOf(kp), kp.Proc.P_stat == sZomb, nil
}

// exited reports whether the pinned process has exited (gone, zombie, or
// its pid reused).
func exited(p *Pinned) bool {
	start, zombie, err := readStat(p.id.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true
	case err != nil:
		return false
	}
	return zombie || start != p.id.StartTime
}
