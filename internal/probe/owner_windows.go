//go:build windows

package probe

import "context"

// newPlatformFinder is the Windows source: GetExtendedTcpTable names the
// owner pid of every listening socket. A table that cannot be read fails
// the source (a listener_source_fallback finding), never "no listeners".
func newPlatformFinder(name string, ports []int) (ownerFinder, error) {
	if name != SourceIPHlpAPI {
		return nil, &SourceError{Value: name, Valid: ValidSources("windows")}
	}
	return newPIDFinder(SourceIPHlpAPI, ports, iphlpapiListeners), nil
}

func iphlpapiListeners(ctx context.Context, _ []int) ([]pidListener, error) {
	return readListeners(ctx, readTCPTable)
}

// TableListening reports whether the kernel's TCP table (GetExtendedTcpTable)
// holds a listener on port that receives connections to 127.0.0.1. It is
// how the cleanup tells on Windows that a port has closed: there a connect
// to a closed loopback port is not refused at once but retried for about
// two seconds, so a short connect cannot tell closed from busy. A table
// that cannot be read is an error, which the caller must not take for
// "closed".
func TableListening(ctx context.Context, port int) (bool, error) {
	return tableListening(ctx, readTCPTable, port)
}
