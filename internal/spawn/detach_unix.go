//go:build unix

package spawn

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// startDetached starts the daemon in its own session and hands it the
// readiness pipe as descriptor 3.
func startDetached(newCmd func() *exec.Cmd, ready *os.File) (cmd *exec.Cmd, usesReady bool, err error) {
	cmd = newCmd()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = []*os.File{ready}
	cmd.Env = append(cmd.Env, EnvReadyFD+"="+strconv.Itoa(3))
	return cmd, true, cmd.Start()
}

// daemonDir is the working directory of every daemon: the file system root.
func daemonDir() string { return "/" }
