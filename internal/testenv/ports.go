//go:build linux

package testenv

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// dialTimeout is a loopback connect: it either succeeds or is refused at
// once; the bound only matters on a machine under heavy load.
const dialTimeout = 200 * time.Millisecond

// Listening reports whether something accepts connections on the port.
func Listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dialTimeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Free reports whether the port can be bound on 127.0.0.1.
func Free(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// FreePorts returns n free ports of r, lowest first, or fails the test.
func FreePorts(t testing.TB, r api.PortRange, n int) []int {
	t.Helper()
	var ports []int
	for _, p := range r.Ports() {
		if len(ports) == n {
			break
		}
		if Free(p) {
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		t.Fatalf("only %d of %d free ports in [%d, %d)", len(ports), n, r.Lo, r.Hi)
	}
	return ports
}

// RequireFree fails the test unless the port can be bound: a test that
// needs a specific port (a range edge) must not silently use another.
func RequireFree(t testing.TB, port int) {
	t.Helper()
	if !poll(readyWait, func() bool { return Free(port) }) {
		t.Fatalf("port %d is in use by something outside this test", port)
	}
}

// WaitListening waits until the port accepts connections.
func WaitListening(t testing.TB, port int) {
	t.Helper()
	if !poll(readyWait, func() bool { return Listening(port) }) {
		t.Fatalf("port %d not listening within %v", port, readyWait)
	}
}

// WaitFree waits until the port can be bound again.
func WaitFree(t testing.TB, port int) {
	t.Helper()
	if !poll(readyWait, func() bool { return Free(port) }) {
		t.Fatalf("port %d still in use after %v", port, readyWait)
	}
}

// ListeningPorts lists the ports of r that accept connections.
func ListeningPorts(r api.PortRange) []int {
	var out []int
	for _, p := range r.Ports() {
		if Listening(p) {
			out = append(out, p)
		}
	}
	return out
}
