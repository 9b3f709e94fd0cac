//go:build unix

package logfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// detachStdFDs points file descriptors 1 and 2 at the null device.
func detachStdFDs() error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup2(int(null.Fd()), fd); err != nil {
			return err
		}
	}
	return nil
}
