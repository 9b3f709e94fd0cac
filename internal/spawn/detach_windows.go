//go:build windows

package spawn

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// detach starts the daemon without a console of its own. Windows cannot
// inherit an extra descriptor, so readiness is learnt by polling health.
func detach(cmd *exec.Cmd, _ *os.File) (usesReady bool) {
	const detachedProcess = 0x00000008
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: detachedProcess | syscall.CREATE_NEW_PROCESS_GROUP}
	return false
}

// daemonDir is the working directory of every daemon: the root of the
// system drive, so no other volume is kept busy.
func daemonDir() string {
	if vol := filepath.VolumeName(os.Getenv("SystemRoot")); vol != "" {
		return vol + `\`
	}
	return "" // the caller's directory, when Windows does not say
}
