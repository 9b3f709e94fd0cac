//go:build windows

package spawn

import (
	"os"
	"os/exec"
	"syscall"
)

// detach starts the daemon without a console of its own. Windows cannot
// inherit an extra descriptor, so readiness is learnt by polling health.
func detach(cmd *exec.Cmd, _ *os.File) (usesReady bool) {
	const detachedProcess = 0x00000008
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: detachedProcess | syscall.CREATE_NEW_PROCESS_GROUP}
	return false
}
