//go:build !darwin

package probe

import (
	"reflect"
	"testing"

	gnet "github.com/shirou/gopsutil/v4/net"
)

func TestListenersFromConnections(t *testing.T) {
	conns := []gnet.ConnectionStat{
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9401}, Status: "LISTEN", Pid: 10},
		{Laddr: gnet.Addr{IP: "::", Port: 9402}, Status: "LISTEN", Pid: 11},
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9403}, Status: "ESTABLISHED", Pid: 12},
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9404}, Status: "LISTEN", Pid: 0},
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 80}, Status: "LISTEN", Pid: 13},
	}
	got := listenersFromConnections(conns, []int{9401, 9402, 9403, 9404})
	want := []pidListener{{10, "127.0.0.1", 9401}, {11, "::", 9402}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listeners = %v, want %v", got, want)
	}
}

// TestListensOn: how the cleanup decides on Windows that a port has closed,
// from GetExtendedTcpTable rows as gopsutil returns them. A port is still
// held by any listening row that receives 127.0.0.1 — whoever owns it, a
// row without a pid included; a connected row, a listener on ::1 or on
// another address, or another port does not hold it.
func TestListensOn(t *testing.T) {
	conns := []gnet.ConnectionStat{
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9401}, Status: "LISTEN", Pid: 10},
		{Laddr: gnet.Addr{IP: "0.0.0.0", Port: 9402}, Status: "LISTEN", Pid: 11},
		{Laddr: gnet.Addr{IP: "::", Port: 9403}, Status: "LISTEN", Pid: 12},
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9404}, Status: "LISTEN", Pid: 0},
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9405}, Raddr: gnet.Addr{IP: "127.0.0.1", Port: 50000}, Status: "TIME_WAIT", Pid: 0},
		{Laddr: gnet.Addr{IP: "127.0.0.1", Port: 9406}, Raddr: gnet.Addr{IP: "127.0.0.1", Port: 50001}, Status: "ESTABLISHED", Pid: 13},
		{Laddr: gnet.Addr{IP: "::1", Port: 9407}, Status: "LISTEN", Pid: 14},
		{Laddr: gnet.Addr{IP: "192.168.1.5", Port: 9408}, Status: "LISTEN", Pid: 15},
	}
	for port, want := range map[int]bool{9401: true, 9402: true, 9403: true, 9404: true, 9405: false, 9406: false, 9407: false, 9408: false, 9409: false} {
		if got := listensOn(conns, port); got != want {
			t.Errorf("listensOn(%d) = %v, want %v", port, got, want)
		}
	}
	if listensOn(nil, 9401) {
		t.Error("an empty table holds a listener")
	}
}
