//go:build unix && !linux

package procinfo

import (
	"errors"

	"golang.org/x/sys/unix"
)

// aliveOS probes with signal 0: EPERM still proves the process exists.
func aliveOS(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
