//go:build windows

package probe

import (
	"errors"

	"golang.org/x/sys/windows"
)

// connectTimeoutState: Windows retries a refused loopback connect for
// about two seconds, so a closed port times out like a busy one. Taking it
// for closed can hide a busy listener, which then is simply not cleaned.
const connectTimeoutState = portClosed

// isRefused reports whether a connect failed because nothing listens.
func isRefused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }
