package probe

import (
	"encoding/binary"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Only ports where the listener table shows a socket that receives
// 127.0.0.1 are dialled; with no table every port is, so a source that
// cannot list sockets never hides a listener.
func TestDialPorts(t *testing.T) {
	ports := []int{9400, 9401, 9402, 9403, 9404, 9405}
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	lines := []listenLine{
		{addr: net.IPv4(127, 0, 0, 1), port: 9400, inode: 1},
		{addr: net.IPv4zero, port: 9401, inode: 2},
		{addr: net.IPv6unspecified, port: 9402, inode: 3},
		// Two sockets tie (SO_REUSEPORT): the owner is unknown, but the
		// port is still dialled.
		{addr: net.IPv4(127, 0, 0, 1), port: 9403, inode: 4},
		{addr: net.IPv4(127, 0, 0, 1), port: 9403, inode: 5},
		// Sockets that cannot receive 127.0.0.1 are not dialled.
		{addr: net.IPv4(127, 0, 0, 2), port: 9404, inode: 6},
		{addr: net.IPv6loopback, port: 9405, inode: 7},
		// Outside the scanned ports.
		{addr: net.IPv4(127, 0, 0, 1), port: 9500, inode: 8},
	}
	tbl := newTable(lines, want)
	f := &finder{early: func() *table { return tbl }, late: func() *table { return tbl }}
	if got := f.dialPorts(ports); !slices.Equal(got, []int{9400, 9401, 9402, 9403}) {
		t.Errorf("dialPorts = %v, want 9400-9403", got)
	}
	if _, ok := f.socket(9403); ok {
		t.Error("a tied port has a socket")
	}

	none := &finder{early: func() *table { return nil }, late: func() *table { return nil }}
	if got := none.dialPorts(ports); !slices.Equal(got, ports) {
		t.Errorf("without a table dialPorts = %v, want every port %v", got, ports)
	}
	if _, ok := none.socket(9400); ok {
		t.Error("a socket without a table")
	}
}

func TestParseProcNetTCP(t *testing.T) {
	// Written on a little-endian machine, as the kernel prints it there.
	le := binaryIsLittleEndian()
	if !le {
		t.Skip("the sample table is in little-endian word order")
	}
	v4 := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:24D8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 219548 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1061 1 0000000000000000 100 0 0 10 0\n" +
		"   2: 0100007F:24D8 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1\n"
	got, err := parseProcNetTCP([]byte(v4))
	if err != nil {
		t.Fatal(err)
	}
	want := []listenLine{
		{addr: net.IPv4(127, 0, 0, 1), port: 9432, inode: 219548, uid: 1000},
		{addr: net.IPv4zero, port: 2024, inode: 1061, uid: 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].addr.Equal(want[i].addr) || got[i].port != want[i].port || got[i].inode != want[i].inode || got[i].uid != want[i].uid {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	v6 := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000001000000:2329 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0000000000000000FFFF00000100007F:232A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 100 0 0 10 0\n"
	got, err = parseProcNetTCP([]byte(v6))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].addr.Equal(net.IPv6loopback) || got[0].port != 9001 ||
		!got[1].addr.Equal(net.IPv4(127, 0, 0, 1)) || got[1].port != 9002 {
		t.Errorf("v6 = %+v, want ::1:9001 and ::ffff:127.0.0.1:9002", got)
	}

	for _, bad := range []string{
		"header\n   0: 0100007F:24D8 00000000:0000 0A\n",
		"header\n   0: 0100007G:24D8 00000000:0000 0A 0:0 0:0 0 1000 0 1\n",
		"header\n   0: 0100007F:XXXX 00000000:0000 0A 0:0 0:0 0 1000 0 1\n",
		"header\n   0: 0100007F:24D8 00000000:0000 0A 0:0 0:0 0 uid 0 1\n",
	} {
		if got, err := parseProcNetTCP([]byte(bad)); err == nil {
			t.Errorf("parseProcNetTCP(%q) = %+v, want an error", bad, got)
		}
	}
}

func binaryIsLittleEndian() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}

// A holder's socket above the descriptors looked up by number is still
// found by the full walk, whether or not the pid was a likely holder.
func TestResolverCheck_FindsHighDescriptor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	const high = 300
	if err := unix.Dup3(int(f.Fd()), high, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	_ = ln.Close() // fd 300 alone holds the socket now
	t.Cleanup(func() { _ = unix.Close(high) })
	self := os.Getpid()
	inode, ok := socketInode("/proc/self/fd/" + strconv.Itoa(high))
	if !ok {
		t.Fatal("fd 300 is not a socket")
	}
	for _, likely := range []bool{true, false} {
		r := newResolver(map[int]socket{1: {inode: inode, uid: os.Getuid()}}, os.Geteuid())
		r.check(self, likely)
		h, ok := r.holder(inode)
		if !ok || h.pid != self || h.fd != strconv.Itoa(high) {
			t.Errorf("likely=%v: holder = %+v %v, want pid %d fd %d", likely, h, ok, self, high)
		}
	}
}

// The health request goes out exactly as net/http writes it: GET with a
// loopback Host, no keep-alive.
func TestHealthRequestWire(t *testing.T) {
	req, raw := healthRequest()
	want := "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: spec-kitty-probe\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
	if string(raw) != want || req.Method != "GET" || !req.Close {
		t.Errorf("health request on the wire = %q, want %q", raw, want)
	}
}
