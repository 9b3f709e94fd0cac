package probe

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

// procRoot holds one directory per process.
const procRoot = "/proc"

// holder is where a socket inode was found: a pid and its fd number.
type holder struct {
	pid int
	fd  string
}

// resolver finds the processes that hold a set of socket inodes. Its
// methods are safe for concurrent use.
type resolver struct {
	euid int

	mu      sync.Mutex
	pending map[uint64]int // inode → socket uid, still to find
	byUID   map[int]int    // socket uid → how many pending inodes it owns
	found   map[uint64]holder
}

func newResolver(socks map[int]socket, euid int) *resolver {
	r := &resolver{
		euid:    euid,
		pending: make(map[uint64]int, len(socks)),
		byUID:   make(map[int]int),
		found:   make(map[uint64]holder, len(socks)),
	}
	for _, s := range socks {
		r.pending[s.inode] = s.uid
		r.byUID[s.uid]++
	}
	return r
}

// done reports whether every socket has been found.
func (r *resolver) done() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending) == 0
}

// wantsUID reports whether a process of uid may hold a pending socket that
// this process is able to see.
func (r *resolver) wantsUID(uid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byUID[uid] > 0 && r.mayInspect(uid)
}

// claim records that pid holds inode through fd, if inode is pending, and
// reports whether it was.
func (r *resolver) claim(inode uint64, pid int, fd string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	uid, ok := r.pending[inode]
	if ok {
		delete(r.pending, inode)
		r.byUID[uid]--
		r.found[inode] = holder{pid: pid, fd: fd}
	}
	return ok
}

// holder returns where inode was found.
func (r *resolver) holder(inode uint64) (holder, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.found[inode]
	return h, ok
}

// check looks through pid's descriptors for pending sockets. A pid that
// vanished or belongs to another user simply holds nothing we can see. A
// socket shared by several processes (inherited across a fork) is credited
// to the first one found; its argv, not this choice, decides what the
// classifier may do with it.
//
// likely says the pid is expected to hold a socket (a verified hint is
// about to be checked): its lowest descriptors are then looked up by number
// first, which finds a daemon's listener without listing the directory (a
// listing makes /proc build an entry for every descriptor). Whatever that
// does not find, the full walk does.
func (r *resolver) check(pid int, likely bool) {
	if pid <= 0 || r.done() {
		return
	}
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	found := func(name string) bool {
		inode, ok := socketInodeAt(fd, name)
		return ok && r.claim(inode, pid, name) && r.done()
	}
	guessed := 0
	if likely {
		for ; guessed < fdGuesses; guessed++ {
			if found(strconv.Itoa(guessed)) {
				return
			}
		}
	}
	buf := make([]byte, fdDirentBuf)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			if num, err := strconv.Atoi(name); err == nil && num < guessed {
				continue // already looked at
			}
			if found(name) {
				return // the rest of the descriptors cannot hold anything pending
			}
		}
	}
}

// fdGuesses is how many of a likely holder's lowest descriptors are looked
// up by number before its fd directory is listed: a daemon's listener is
// among its first few (stdio, the poller, its log and queue files).
const fdGuesses = 16

// fdDirentBuf is the getdents buffer of an fd walk: about a hundred
// entries per call, so a process with thousands of descriptors is left as
// soon as the wanted sockets are found. The walk reads the fd directory
// with plain syscalls, since os.Open would register each /proc directory
// with the network poller first, and reads each link relative to it.
const fdDirentBuf = 4 << 10

// maxScanWorkers bounds the goroutines that scan /proc. The work is
// syscalls on /proc: it scales with cores, and beyond a few workers they
// only contend for the same kernel locks.
const maxScanWorkers = 4

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
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), maxScanWorkers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(names) || r.done() || ctx.Err() != nil {
					return
				}
				r.visit(names[i])
			}
		})
	}
	wg.Wait()
}

// visit checks one /proc entry if it is a process of a wanted uid.
func (r *resolver) visit(name string) {
	pid, err := strconv.Atoi(name)
	if err != nil {
		return
	}
	var st unix.Stat_t
	if unix.Stat(procRoot+"/"+name, &st) != nil {
		return
	}
	if r.wantsUID(int(st.Uid)) {
		r.check(pid, false)
	}
}

// anyInspectable reports whether some pending socket belongs to a uid
// whose processes this process may inspect.
func (r *resolver) anyInspectable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
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

// owners reads the holder of each found socket, concurrently: each read
// costs tens of microseconds of kernel time, and a range may hold dozens of
// daemons. Sockets whose holder was not found have an unknown owner.
func (r *resolver) owners(socks map[int]socket) map[int]owner {
	out := make(map[int]owner, len(socks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for port, s := range socks {
		wg.Go(func() {
			o := owner{uid: s.uid, info: procinfo.Info{UID: -1}}
			if h, ok := r.holder(s.inode); ok {
				if found, ok := readOwner(h, s); ok {
					o = found
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

// readOwner reads the process h names and keeps it only if it still holds
// the socket afterwards. A pid cannot pass to a new process that already
// holds this very socket, so the re-check proves the Info read in between
// describes the socket's owner, not a process that reused its pid; that is
// why one read of each /proc file is enough. The uid is the socket's, from
// the kernel's socket table, so status is not read.
func readOwner(h holder, s socket) (owner, bool) {
	info, err := procinfo.ReadOwner(h.pid)
	if err != nil || info.Zombie || !holds(h, s.inode) {
		return owner{}, false
	}
	return owner{uid: s.uid, info: info}, true
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
	return parseSocketLink(target)
}

// socketInodeAt is socketInode for the link name in the directory dirfd.
func socketInodeAt(dirfd int, name string) (uint64, bool) {
	var buf [64]byte // "socket:[N]" is at most 30 bytes; longer is not a socket
	n, err := unix.Readlinkat(dirfd, name, buf[:])
	if err != nil || n >= len(buf) {
		return 0, false
	}
	return parseSocketLink(string(buf[:n]))
}

// parseSocketLink returns N from a "socket:[N]" link target.
func parseSocketLink(target string) (uint64, bool) {
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
