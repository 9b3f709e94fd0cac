//go:build unix

package spawn

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// detach puts the daemon in its own session and hands it the readiness pipe
// as descriptor 3.
func detach(cmd *exec.Cmd, ready *os.File) (usesReady bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = []*os.File{ready}
	cmd.Env = append(cmd.Env, EnvReadyFD+"="+strconv.Itoa(3))
	return true
}

// daemonDir is the working directory of every daemon: the file system root.
func daemonDir() string { return "/" }
