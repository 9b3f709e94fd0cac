//go:build windows

package cleanup

import (
	"errors"
	"syscall"
)

// wsaeconnrefused is WSAECONNREFUSED, what Windows returns for a refused
// connect.
const wsaeconnrefused = syscall.Errno(10061)

// refused reports whether a dial error is a refused connection.
func refused(err error) bool {
	return errors.Is(err, wsaeconnrefused) || errors.Is(err, syscall.ECONNREFUSED)
}
