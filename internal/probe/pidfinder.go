package probe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

// pidListener is one listening socket as a source that names pids directly
// (lsof, GetExtendedTcpTable) reports it: which process, which local
// address, which port.
type pidListener struct {
	PID  int
	Host string
	Port int
}

// pidLister lists the listening TCP sockets of ports.
type pidLister func(ctx context.Context, ports []int) ([]pidListener, error)

// pidFinder resolves owners from a source that names the pid of each
// listening socket; the process's identity (argv, start time, uid) then
// comes from procinfo. The listing runs once, in the background, while the
// ports are being probed.
type pidFinder struct {
	name  string
	table func() (map[int][]int, error)
}

func newPIDFinder(name string, ports []int, list pidLister) *pidFinder {
	f := &pidFinder{name: name}
	f.table = sync.OnceValues(func() (map[int][]int, error) {
		ls, err := list(context.Background(), ports)
		if err != nil {
			return nil, err
		}
		return pickPIDs(ls, ports), nil
	})
	go func() { _, _ = f.table() }()
	return f
}

// hinted answers from the listing itself: a source that names pids needs
// no hint, and settles each port as soon as its answer is in.
// dialPorts dials every port: lsof run as a user does not see other users'
// sockets, so its table cannot rule a port out.
func (f *pidFinder) dialPorts(ports []int) []int { return ports }

func (f *pidFinder) hinted(port int, _ []int) (owner, bool) { return f.owner(port), true }

func (f *pidFinder) rest(_ context.Context, ports []int) map[int]owner {
	out := make(map[int]owner, len(ports))
	for _, p := range ports {
		out[p] = f.owner(p)
	}
	return out
}

// report names the source, or none with the reason when it failed: the
// scan then went on without pids, which is safe (SPEC §8 Platforms).
func (f *pidFinder) report() SourceReport {
	if _, err := f.table(); err != nil {
		return SourceReport{Name: SourceNone, Notes: []string{
			fmt.Sprintf("listener source %s failed (%v); no pid was named, so only token-proven daemons of this scope can be cleaned", f.name, err),
		}}
	}
	return SourceReport{Name: f.name}
}

// owner reads the identity of the one process the listing names for port.
// Several processes on one port (a socket shared across a fork, or
// SO_REUSEPORT) cannot be told apart by a pid listing, so the owner is then
// unknown: the classifier degrades, it never guesses.
func (f *pidFinder) owner(port int) owner {
	t, err := f.table()
	if err != nil || len(t[port]) != 1 {
		return unknownOwner
	}
	info, err := procinfo.Read(t[port][0])
	if err != nil || info.Zombie {
		return unknownOwner
	}
	return owner{uid: info.UID, info: info}
}

// pickPIDs keeps, for each wanted port, the distinct pids of the sockets
// that receive connections to 127.0.0.1 (the most specific bound address
// wins, as in the kernel).
func pickPIDs(ls []pidListener, ports []int) map[int][]int {
	type best struct {
		tier int
		pids []int
	}
	bests := map[int]best{}
	for _, l := range ls {
		if !slices.Contains(ports, l.Port) || l.PID <= 0 {
			continue
		}
		tier := hostTier(l.Host)
		b := bests[l.Port]
		switch {
		case tier == 0 || tier < b.tier:
		case tier > b.tier:
			bests[l.Port] = best{tier: tier, pids: []int{l.PID}}
		case !slices.Contains(b.pids, l.PID):
			b.pids = append(b.pids, l.PID)
			bests[l.Port] = b
		}
	}
	out := make(map[int][]int, len(bests))
	for port, b := range bests {
		slices.Sort(b.pids)
		out[port] = b.pids
	}
	return out
}

// hostTier ranks a listening address (as lsof prints it, or as the Windows
// TCP table gives it) by how it receives a connection to 127.0.0.1: 3 for
// 127.0.0.1 itself, 2 for the IPv4 wildcard, 1 for the IPv6 wildcard
// (receives IPv4 unless V6ONLY), 0 for an address that cannot receive it
// (::1, another interface).
func hostTier(host string) int {
	h := strings.ToLower(strings.Trim(host, "[]"))
	switch h {
	case "127.0.0.1", "::ffff:127.0.0.1":
		return 3
	case "*", "0.0.0.0", "::ffff:0.0.0.0":
		return 2
	case "::", "0:0:0:0:0:0:0:0":
		return 1
	}
	return 0
}
