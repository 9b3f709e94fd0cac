//go:build unix

package dashboard

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
)

// detach puts the dashboard in its own session and hands it the readiness
// pipe as descriptor 3, exactly as the sync daemon is started.
func detach(cmd *exec.Cmd, ready *os.File) (usesReady bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = []*os.File{ready}
	cmd.Env = append(cmd.Env, lifecycle.EnvReadyFD+"="+strconv.Itoa(3))
	return true
}
