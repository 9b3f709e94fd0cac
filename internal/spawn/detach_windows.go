//go:build windows

package spawn

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// detachedProcess is DETACHED_PROCESS: the child gets no console at all,
// so it never opens a window and does not die with the parent's console.
const detachedProcess = 0x00000008

// detachFlags are the creation flags of a daemon: detached from the
// console, and in its own process group so a Ctrl-C (Ctrl-Break) in the
// terminal that started it does not reach it.
const detachFlags = detachedProcess | syscall.CREATE_NEW_PROCESS_GROUP

// startDetached starts the daemon without a console or window of its own,
// out of the caller's job object where the job allows it (withBreakaway).
// Windows cannot inherit an extra descriptor, so readiness is learnt by
// polling health. The argv markers are quoted by os/exec (EscapeArg) and
// read back by procinfo.SplitWindowsCommandLine, which the tests prove
// round-trip.
func startDetached(newCmd func() *exec.Cmd, _ *os.File) (cmd *exec.Cmd, usesReady bool, err error) {
	cmd, err = withBreakaway(detachFlags, func(flags uint32) (*exec.Cmd, error) {
		c := newCmd() // an exec.Cmd starts once: a fresh one per attempt
		c.SysProcAttr = &syscall.SysProcAttr{CreationFlags: flags, HideWindow: true}
		return c, c.Start()
	}, accessDenied)
	return cmd, false, err
}

// accessDenied is how CreateProcess refuses CREATE_BREAKAWAY_FROM_JOB in a
// job without JOB_OBJECT_LIMIT_BREAKAWAY_OK.
func accessDenied(err error) bool { return errors.Is(err, syscall.ERROR_ACCESS_DENIED) }

// daemonDir is the working directory of every daemon: the root of the
// system drive, so no other volume is kept busy.
func daemonDir() string {
	if vol := filepath.VolumeName(os.Getenv("SystemRoot")); vol != "" {
		return vol + `\`
	}
	return "" // the caller's directory, when Windows does not say
}
