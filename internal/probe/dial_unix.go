//go:build !windows

package probe

import (
	"errors"
	"syscall"
)

// connectTimeoutState: on loopback a closed port answers a SYN with a
// reset at once, so only a listener whose accept backlog is full lets a
// connect time out.
const connectTimeoutState = portBusy

// isRefused reports whether a connect failed because nothing listens.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
