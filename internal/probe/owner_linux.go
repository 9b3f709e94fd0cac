package probe

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

// tcpListen is TCP_LISTEN, the st column of a listening socket in
// /proc/net/tcp.
const tcpListen = 0x0A

// procRoot holds one directory per process.
const procRoot = "/proc"

// fdBatch is how many fd names are read from /proc/<pid>/fd at a time, so
// a process with thousands of descriptors is left as soon as the wanted
// sockets are found.
const fdBatch = 64

// loopbackV4 is the address every probe connects to.
var loopbackV4 = net.IPv4(127, 0, 0, 1)

// procFS opens /proc once per process lifetime.
var procFS = sync.OnceValues(func() (procfs.FS, error) {
	return procfs.NewFS(procfs.DefaultMountPoint)
})

// listenLine is one listening socket of /proc/net/tcp{,6}.
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

// resolveOwners maps each listening port (the keys of listeners, each with
// the pids to try first) to the process that holds its socket. A port
// whose socket or process cannot be found is absent or has PID 0; nothing
// here is an error, because an unknown owner is a valid answer.
func resolveOwners(ctx context.Context, listeners map[int][]int) map[int]owner {
	if len(listeners) == 0 {
		return nil
	}
	lines, err := listenLines()
	if err != nil {
		return nil
	}
	socks := pickSockets(lines, listeners)
	r := newResolver(socks)
	for _, port := range slices.Sorted(maps.Keys(listeners)) {
		for _, pid := range listeners[port] {
			r.check(pid)
		}
	}
	r.scan(ctx)
	return r.owners(socks)
}

// listenLines returns the listening TCP sockets of this network namespace:
// from sock_diag, which is fast, or else from /proc/net/tcp{,6}.
func listenLines() ([]listenLine, error) {
	v4, err4 := diagListeners(unix.AF_INET)
	v6, err6 := diagListeners(unix.AF_INET6)
	if err4 == nil && err6 == nil {
		return append(v4, v6...), nil
	}
	return procListenLines()
}

// procListenLines reads the listening sockets from /proc/net/tcp{,6}.
func procListenLines() ([]listenLine, error) {
	fs, err := procFS()
	if err != nil {
		return nil, fmt.Errorf("opening /proc: %w", err)
	}
	v4, err := fs.NetTCP()
	if err != nil {
		return nil, fmt.Errorf("reading /proc/net/tcp: %w", err)
	}
	// A kernel without IPv6 has no tcp6 table; that is not a failure.
	v6, err := fs.NetTCP6()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading /proc/net/tcp6: %w", err)
	}
	var out []listenLine
	for _, l := range slices.Concat(v4, v6) {
		if l.St == tcpListen {
			out = append(out, listenLine{addr: l.LocalAddr, port: int(l.LocalPort), inode: l.Inode, uid: int(l.UID)})
		}
	}
	return out, nil
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
func pickSockets(lines []listenLine, ports map[int][]int) map[int]socket {
	type best struct {
		tier  int
		socks []socket
	}
	bests := make(map[int]best)
	for _, l := range lines {
		if _, ok := ports[l.port]; !ok || l.inode == 0 {
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

// holder is where a socket inode was found: a pid and its fd number.
type holder struct {
	pid int
	fd  string
}

// resolver finds the processes that hold a set of socket inodes.
type resolver struct {
	pending map[uint64]int // inode → socket uid, still to find
	byUID   map[int]int    // socket uid → how many pending inodes it owns
	found   map[uint64]holder
	checked map[int]bool
	euid    int
}

func newResolver(socks map[int]socket) *resolver {
	r := &resolver{
		pending: make(map[uint64]int, len(socks)),
		byUID:   make(map[int]int),
		found:   make(map[uint64]holder, len(socks)),
		checked: make(map[int]bool),
		euid:    os.Geteuid(),
	}
	for _, s := range socks {
		r.pending[s.inode] = s.uid
		r.byUID[s.uid]++
	}
	return r
}

// check looks through pid's descriptors for pending sockets. A pid that
// vanished or belongs to another user simply holds nothing we can see.
func (r *resolver) check(pid int) {
	if pid <= 0 || r.checked[pid] || len(r.pending) == 0 {
		return
	}
	r.checked[pid] = true
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	for len(r.pending) > 0 {
		names, err := f.Readdirnames(fdBatch)
		for _, name := range names {
			inode, ok := socketInode(dir + "/" + name)
			if uid, want := r.pending[inode]; ok && want {
				delete(r.pending, inode)
				r.byUID[uid]--
				r.found[inode] = holder{pid: pid, fd: name}
			}
		}
		if err != nil {
			return
		}
	}
}

// scan visits the processes that could hold a pending socket: those whose
// /proc directory belongs to the socket's uid, and only when this process
// may read their descriptors at all. It stops once nothing is pending.
func (r *resolver) scan(ctx context.Context) {
	if !r.anyInspectable() {
		return
	}
	d, err := os.Open(procRoot)
	if err != nil {
		return
	}
	names, err := d.Readdirnames(-1)
	_ = d.Close()
	if err != nil {
		return
	}
	for _, name := range names {
		if len(r.pending) == 0 || ctx.Err() != nil {
			return
		}
		pid, err := strconv.Atoi(name)
		if err != nil || r.checked[pid] {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(procRoot+"/"+name, &st) != nil {
			continue
		}
		if uid := int(st.Uid); r.byUID[uid] > 0 && r.mayInspect(uid) {
			r.check(pid)
		}
	}
}

// anyInspectable reports whether some pending socket belongs to a uid
// whose processes this process may inspect.
func (r *resolver) anyInspectable() bool {
	for uid, n := range r.byUID {
		if n > 0 && r.mayInspect(uid) {
			return true
		}
	}
	return false
}

// mayInspect reports whether this process can read the descriptors of a
// process owned by uid: its own, or anyone's as root. Trying others would
// cost a permission error per process and find nothing.
func (r *resolver) mayInspect(uid int) bool { return r.euid == 0 || r.euid == uid }

// owners reads each found holder and keeps it only if it still holds the
// socket afterwards. A pid cannot pass to a new process that already holds
// this very socket, so the re-check proves the Info read in between
// describes the socket's owner, not a process that reused its pid. The
// reads run concurrently: each costs tens of microseconds of kernel time,
// and a range may hold dozens of daemons.
func (r *resolver) owners(socks map[int]socket) map[int]owner {
	out := make(map[int]owner, len(socks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for port, s := range socks {
		wg.Go(func() {
			o := owner{uid: s.uid, info: procinfo.Info{UID: -1}}
			if h, ok := r.found[s.inode]; ok {
				info, err := procinfo.Read(h.pid)
				if err == nil && !info.Zombie && holds(h, s.inode) {
					o.info = info
				}
			}
			mu.Lock()
			out[port] = o
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// holds reports whether h's descriptor still refers to the socket inode.
func holds(h holder, inode uint64) bool {
	got, ok := socketInode(procRoot + "/" + strconv.Itoa(h.pid) + "/fd/" + h.fd)
	return ok && got == inode
}

// socketInode reads an fd link and returns N from its "socket:[N]" target.
func socketInode(link string) (uint64, bool) {
	target, err := os.Readlink(link)
	if err != nil {
		return 0, false
	}
	digits, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, "]")
	if !ok {
		return 0, false
	}
	inode, err := strconv.ParseUint(digits, 10, 64)
	return inode, err == nil
}
