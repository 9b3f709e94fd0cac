//go:build !darwin

// The darwin build leaves this file out: gopsutil's net package loads
// libSystem through purego on macOS, and the macOS binary must not load
// anything at run time (SPEC §8 Platforms).

package probe

import (
	"slices"

	gnet "github.com/shirou/gopsutil/v4/net"
)

// listenersFromConnections keeps the listening TCP sockets of ports from a
// connection table as gopsutil returns it (on Windows, GetExtendedTcpTable
// with the owner pid of each row).
func listenersFromConnections(conns []gnet.ConnectionStat, ports []int) []pidListener {
	var ls []pidListener
	for _, c := range conns {
		port := int(c.Laddr.Port)
		if c.Status != "LISTEN" || c.Pid <= 0 || !slices.Contains(ports, port) {
			continue
		}
		ls = append(ls, pidListener{PID: int(c.Pid), Host: c.Laddr.IP, Port: port})
	}
	return ls
}

// listensOn reports whether a connection table holds a listening TCP socket
// on port that receives connections to 127.0.0.1 (127.0.0.1 itself, or a
// wildcard), whoever owns it: a row whose pid the table does not name still
// holds the port.
func listensOn(conns []gnet.ConnectionStat, port int) bool {
	for _, c := range conns {
		if c.Status == "LISTEN" && int(c.Laddr.Port) == port && hostTier(c.Laddr.IP) > 0 {
			return true
		}
	}
	return false
}
