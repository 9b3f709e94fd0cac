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
