package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
)

// unreachable words a login that could not reach the server at all (no
// route, nothing listening, no such host, a timeout) as the mistake a
// person most likely made — a wrong --server or a server that is down —
// instead of Go's `Get "http://…": dial tcp …`. Other errors return nil.
func unreachable(err error, server string) error {
	var op *net.OpError
	var dns *net.DNSError
	var why string
	switch {
	case errors.As(err, &dns):
		why = "no such host"
		if !dns.IsNotFound {
			why = "host name lookup failed"
		}
	case errors.As(err, &op) && op.Op == "dial":
		why = bareErr(op.Err).Error()
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			why = sys.Err.Error()
		}
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		why = "no answer in time"
	default:
		return nil
	}
	return fmt.Errorf("logging in: cannot reach %s (%s); check the --server URL and that the server is up", server, why)
}
