//go:build !windows

package cleanup

import (
	"errors"
	"syscall"
)

// refused reports whether a dial error is a refused connection.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
