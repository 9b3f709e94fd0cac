package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// tcpListen is TCP_LISTEN, the st column of a listening socket in
// /proc/net/tcp.
const tcpListen = 0x0A

// loopbackV4 is the address every probe connects to.
var loopbackV4 = net.IPv4(127, 0, 0, 1)

// listenLine is one listening TCP socket (from sock_diag or /proc/net/tcp).
type listenLine struct {
	addr  net.IP
	port  int
	inode uint64
	uid   int
}

// socket is the listening socket that receives connections to
// 127.0.0.1:port.
type socket struct {
	inode uint64
	uid   int
}

// finder resolves the owners of one scan's listeners from the kernel's
// socket table (sock_diag or /proc/net/tcp) and /proc/<pid>/fd. The table is
// read first, to tell which ports to dial at all, and once more, later,
// only if a port that answered is missing from it (a daemon that started
// listening mid-scan).
type finder struct {
	early, late func() *table
	euid        int

	mode string // auto, sock_diag or procfs

	mu   sync.Mutex
	used string   // the table that answered last
	errs []string // why a table could not be read
}

// table is what one read of the listening sockets says about the scanned
// ports.
type table struct {
	// socks holds, per port, the one socket that receives connections to
	// 127.0.0.1 (absent when several tie, see pickSockets).
	socks map[int]socket
	// reach holds every port where some socket receives them.
	reach map[int]bool
}

// newPlatformFinder is the Linux kernel finder: auto reads sock_diag and
// falls back to /proc/net/tcp; sock_diag and procfs read only that table.
func newPlatformFinder(mode string, ports []int) (ownerFinder, error) {
	return newFinderMode(ports, mode), nil
}

// newFinder is the auto kernel finder.
func newFinder(ports []int) *finder { return newFinderMode(ports, SourceAuto) }

func newFinderMode(ports []int, mode string) *finder {
	want := make(map[int]bool, len(ports))
	for _, p := range ports {
		want[p] = true
	}
	f := &finder{euid: os.Geteuid(), mode: mode}
	read := func() *table {
		lines, used, notes, err := listenLinesBy(mode)
		f.note(used, notes, err)
		if err != nil {
			// An unreadable table leaves every owner unknown, which is
			// a valid (and safe) answer, not a failed scan.
			return nil
		}
		return newTable(lines, want)
	}
	f.early, f.late = sync.OnceValue(read), sync.OnceValue(read)
	return f
}

func newTable(lines []listenLine, want map[int]bool) *table {
	t := &table{socks: pickSockets(lines, want), reach: make(map[int]bool)}
	for _, l := range lines {
		if want[l.port] && reachTier(l.addr) > 0 {
			t.reach[l.port] = true
		}
	}
	return t
}

// dialPorts returns the ports of ports worth connecting to: those where
// the listening-socket table shows a socket that receives connections to
// 127.0.0.1. A refused connect costs a socket and a round of the poller
// each, and most of a range is usually free. Without a table every port is
// dialled, so no listener is ever missed for want of one.
func (f *finder) dialPorts(ports []int) []int {
	t := f.early()
	if t == nil {
		return ports
	}
	out := make([]int, 0, len(t.reach))
	for _, p := range ports {
		if t.reach[p] {
			out = append(out, p)
		}
	}
	return out
}

func (f *finder) note(used string, notes []string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used = used
	for _, n := range notes {
		if !slices.Contains(f.errs, n) {
			f.errs = append(f.errs, n)
		}
	}
	if err != nil {
		f.used = SourceNone
		f.errs = append(f.errs, fmt.Sprintf("no socket table could be read (%v); no pid was named, so only token-proven daemons of this scope can be cleaned", err))
	}
}

func (f *finder) report() SourceReport {
	f.early()
	f.mu.Lock()
	defer f.mu.Unlock()
	return SourceReport{Name: f.used, Notes: slices.Clone(f.errs)}
}

// socket returns the listening socket of port.
func (f *finder) socket(port int) (socket, bool) {
	if t := f.early(); t != nil {
		if s, ok := t.socks[port]; ok {
			return s, true
		}
	}
	if t := f.late(); t != nil {
		s, ok := t.socks[port]
		return s, ok
	}
	return socket{}, false
}

// hinted tries the pids that probably own port. It reports done when the
// question is settled: an owner was verified, or the OS shows no socket
// for the port at all (so there is nothing to look for).
func (f *finder) hinted(port int, pids []int) (o owner, done bool) {
	s, ok := f.socket(port)
	if !ok {
		return unknownOwner, true
	}
	r := newResolver(map[int]socket{port: s}, f.euid)
	for _, pid := range pids {
		r.check(pid, true)
	}
	if h, ok := r.holder(s.inode); ok {
		if o, ok := readOwner(h, s); ok {
			return o, true
		}
	}
	return owner{}, false
}

// rest finds the owners of ports that no hint settled, by scanning the
// processes of each socket's user. Every port of ports is in the result.
func (f *finder) rest(ctx context.Context, ports []int) map[int]owner {
	socks := make(map[int]socket, len(ports))
	out := make(map[int]owner, len(ports))
	for _, port := range ports {
		out[port] = unknownOwner
		if s, ok := f.socket(port); ok {
			socks[port] = s
		}
	}
	if len(socks) == 0 {
		return out
	}
	r := newResolver(socks, f.euid)
	r.scan(ctx)
	maps.Copy(out, r.owners(socks))
	return out
}

// diagListen reads one family's listeners through sock_diag; a variable so
// a test can play a kernel that refuses netlink.
var diagListen = diagListeners

// listenLines returns the listening TCP sockets, as auto reads them.
func listenLines() ([]listenLine, error) {
	lines, _, _, err := listenLinesBy(SourceAuto)
	return lines, err
}

// listenLinesBy returns the listening TCP sockets of this network
// namespace from the table mode names; auto tries sock_diag, which is fast,
// and falls back to /proc/net/tcp{,6}, saying so in a note.
func listenLinesBy(mode string) (lines []listenLine, used string, notes []string, err error) {
	if mode != SourceProcfs {
		v4, err4 := diagListen(unix.AF_INET)
		v6, err6 := diagListen(unix.AF_INET6)
		if err := errors.Join(err4, err6); err == nil {
			return append(v4, v6...), SourceSockDiag, nil, nil
		} else if mode == SourceSockDiag {
			return nil, SourceSockDiag, nil, fmt.Errorf("sock_diag: %w", err)
		} else {
			notes = append(notes, fmt.Sprintf("sock_diag refused (%v); fell back to procfs", err))
		}
	}
	lines, err = procListenLines()
	return lines, SourceProcfs, notes, err
}

// procListenLines reads the listening sockets from /proc/net/tcp{,6}: the
// fallback for kernels and sandboxes (gVisor, strict seccomp) that refuse
// sock_diag. A kernel without IPv6 has no tcp6 table; that is not a
// failure.
func procListenLines() ([]listenLine, error) {
	v4, err := procNetTCP(procRoot + "/net/tcp")
	if err != nil {
		return nil, err
	}
	v6, err := procNetTCP(procRoot + "/net/tcp6")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return append(v4, v6...), nil
}

// procNetTCP reads the listening sockets of one /proc/net/tcp{,6} table.
func procNetTCP(path string) ([]listenLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	lines, err := parseProcNetTCP(data)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return lines, nil
}

// parseProcNetTCP parses a /proc/net/tcp{,6} table, keeping listening
// sockets only:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	 0: 0100007F:24D8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 219548 ...
//
// Addresses are the kernel's 32-bit words in hex, each in host byte order;
// the port is big-endian hex.
func parseProcNetTCP(data []byte) ([]listenLine, error) {
	var out []listenLine
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // header, trailing newline
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("line %d: %d fields", i+1, len(f))
		}
		if st, err := strconv.ParseUint(f[3], 16, 8); err != nil || st != tcpListen {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(f[1], ":")
		addr, okAddr := parseProcAddr(hexAddr)
		port, errPort := strconv.ParseUint(hexPort, 16, 16)
		uid, errUID := strconv.ParseUint(f[7], 10, 32)
		inode, errInode := strconv.ParseUint(f[9], 10, 64)
		if !ok || !okAddr || errPort != nil || errUID != nil || errInode != nil {
			return nil, fmt.Errorf("line %d: malformed %q", i+1, line)
		}
		out = append(out, listenLine{addr: addr, port: int(port), inode: inode, uid: int(uid)})
	}
	return out, nil
}

// parseProcAddr decodes an address of /proc/net/tcp{,6}: 8 or 32 hex
// digits, 32-bit words in host byte order.
func parseProcAddr(h string) (net.IP, bool) {
	if len(h) != 8 && len(h) != 32 {
		return nil, false
	}
	ip := make(net.IP, len(h)/2)
	for w := 0; w < len(h)/8; w++ {
		v, err := strconv.ParseUint(h[w*8:w*8+8], 16, 32)
		if err != nil {
			return nil, false
		}
		binary.NativeEndian.PutUint32(ip[w*4:], uint32(v))
	}
	return ip, true
}

// reachTier ranks how a socket bound to ip receives a connection to
// 127.0.0.1: the kernel delivers it to the most specific bound address, so
// a higher tier wins. 0 means the socket cannot receive it at all (::1,
// another address), so it is never taken for the listener that answered.
func reachTier(ip net.IP) int {
	switch {
	case ip.Equal(loopbackV4): // also ::ffff:127.0.0.1
		return 3
	case ip.Equal(net.IPv4zero): // also ::ffff:0.0.0.0
		return 2
	case ip.Equal(net.IPv6unspecified): // receives IPv4 unless IPV6_V6ONLY
		return 1
	}
	return 0
}

// pickSockets chooses, for each port of ports, the one socket that
// receives 127.0.0.1 connections. When several distinct sockets tie (for
// example SO_REUSEPORT), which one answered cannot be known, so the port
// gets none and its owner stays unknown.
func pickSockets(lines []listenLine, ports map[int]bool) map[int]socket {
	type best struct {
		tier  int
		socks []socket
	}
	bests := make(map[int]best)
	for _, l := range lines {
		if !ports[l.port] || l.inode == 0 {
			continue
		}
		tier := reachTier(l.addr)
		b := bests[l.port]
		s := socket{inode: l.inode, uid: l.uid}
		switch {
		case tier == 0 || tier < b.tier:
		case tier > b.tier:
			bests[l.port] = best{tier: tier, socks: []socket{s}}
		case !slices.ContainsFunc(b.socks, func(o socket) bool { return o.inode == s.inode }):
			b.socks = append(b.socks, s)
			bests[l.port] = b
		}
	}
	out := make(map[int]socket, len(bests))
	for port, b := range bests {
		if len(b.socks) == 1 {
			out[port] = b.socks[0]
		}
	}
	return out
}
