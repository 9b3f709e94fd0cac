//go:build !windows

package cleanup

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"
)

// portClosedDial bounds the connect that tells whether a port still listens;
// loopback answers at once.
const portClosedDial = 100 * time.Millisecond

// portClosed reports whether a connect to the port is refused. Only a
// refusal means closed: a timeout is a listener with a full backlog (a child
// that inherited the socket), which still holds the port.
func portClosed(port int) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), portClosedDial)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	conn.Close()
	return false
}
