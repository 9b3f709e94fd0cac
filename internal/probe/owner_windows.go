//go:build windows

package probe

import (
	"context"
	"fmt"
	"time"

	gnet "github.com/shirou/gopsutil/v4/net"
)

// iphlpapiTimeout bounds one read of the TCP table; the call is a single
// syscall that answers in milliseconds.
const iphlpapiTimeout = time.Second

// newPlatformFinder is the Windows source: GetExtendedTcpTable names the
// owner pid of every listening socket.
func newPlatformFinder(name string, ports []int) (ownerFinder, error) {
	if name != SourceIPHlpAPI {
		return nil, &SourceError{Value: name, Valid: ValidSources("windows")}
	}
	return newPIDFinder(SourceIPHlpAPI, ports, iphlpapiListeners), nil
}

func iphlpapiListeners(ctx context.Context, ports []int) ([]pidListener, error) {
	ctx, cancel := context.WithTimeout(ctx, iphlpapiTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsWithContext(ctx, "tcp")
	if err != nil {
		return nil, fmt.Errorf("reading the TCP table: %w", err)
	}
	return listenersFromConnections(conns, ports), nil
}

// TableListening reports whether the kernel's TCP table (GetExtendedTcpTable)
// holds a listener on port that receives connections to 127.0.0.1. It is
// how the cleanup tells on Windows that a port has closed: there a connect
// to a closed loopback port is not refused at once but retried for about
// two seconds, so a short connect cannot tell closed from busy.
func TableListening(ctx context.Context, port int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, iphlpapiTimeout)
	defer cancel()
	conns, err := gnet.ConnectionsWithContext(ctx, "tcp")
	if err != nil {
		return false, fmt.Errorf("reading the TCP table: %w", err)
	}
	return listensOn(conns, port), nil
}
