// Package probe scans one family's ports on 127.0.0.1 and gathers, for
// every listener, the evidence the classifier decides on: what answers
// GET /api/health, and which process the OS says holds the listening socket
// (pid, start time, uid, argv, executable). It probes only the ports it is
// given, all at once, so a range full of wedged listeners costs one timeout.
//
// A health self-report is never taken as the owner: the owner is whoever
// holds the listening socket's inode, as the kernel reports it (sock_diag,
// or /proc/net/tcp where netlink is refused, then /proc/<pid>/fd). A
// self-report or a caller's hint only says which process to look at first.
// Where the OS cannot tell (another user's process, a platform without
// /proc), the pid is unknown and the classifier degrades rather than acts
// (SPEC §14).
package probe

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/classify"
)

const (
	// DefaultHealthTimeout bounds one health exchange. Every port is probed
	// concurrently, so a range full of wedged listeners costs one timeout,
	// not one per port: with DefaultConnectTimeout that is at most 600 ms
	// (SPEC §14). A healthy daemon answers in well under 100 ms even while
	// syncing (SPEC §4.2), so a busy one still has five times that.
	DefaultHealthTimeout = 500 * time.Millisecond

	// DefaultConnectTimeout bounds the TCP connect. On loopback a listener
	// completes the handshake in microseconds and a closed port refuses at
	// once; only a listener whose accept backlog is full leaves the SYN
	// unanswered, and 100 ms tells that apart without stretching the scan.
	DefaultConnectTimeout = 100 * time.Millisecond
)

// Options says what to scan and how patiently.
type Options struct {
	// Ports are the only ports probed, typically a family's range.
	Ports []int
	// HealthTimeout bounds the health exchange on each port; zero means
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// ConnectTimeout bounds the TCP connect to each port; zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Hints maps a port to a pid that probably owns it, for example from
	// a per-instance record. A hint only says where to look first: it is
	// verified against the socket's inode and ignored when wrong.
	Hints map[int]int
	// Source names the listener source (SPEC §8 Platforms): "" or auto,
	// sock_diag, procfs, lsof, iphlpapi or none. A name this platform
	// lacks fails the scan with a *SourceError.
	Source string
	// Report, when set, receives which source named the pids and why it
	// fell back, if it did.
	Report *SourceReport
}

func (o Options) withDefaults() Options {
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	return o
}

// Scan probes every port of opts.Ports and returns one Evidence per port
// where something listens on 127.0.0.1, sorted by port. Ports with nothing
// listening are absent. An error means the scan as a whole failed (invalid
// ports, a cancelled context, a port that could not be probed at all);
// what cannot be learnt about one listener is left unknown in its Evidence
// instead.
func Scan(ctx context.Context, opts Options) ([]classify.Evidence, error) {
	opts = opts.withDefaults()
	ports, err := validPorts(opts.Ports)
	if err != nil {
		return nil, fmt.Errorf("scanning ports: %w", err)
	}
	f, err := newOwnerFinder(opts.Source, ports)
	if err != nil {
		return nil, fmt.Errorf("scanning ports: %w", err)
	}
	results := probeAll(ctx, f.dialPorts(ports), opts, f)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scanning ports: %w", err)
	}

	var unsettled []int
	for _, r := range results {
		if r.failed != nil {
			// A port that could not be probed might hide a listener; a
			// scan that silently left it out would report a clean range.
			return nil, fmt.Errorf("scanning ports: %w", r.failed)
		}
		if r.listening && !r.settled {
			unsettled = append(unsettled, r.port)
		}
	}
	rest := f.rest(ctx, unsettled)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("finding listener owners: %w", err)
	}
	if opts.Report != nil {
		*opts.Report = f.report()
	}

	evs := make([]classify.Evidence, 0, len(results))
	for _, r := range results {
		if !r.listening {
			continue
		}
		o := r.owner
		if !r.settled {
			o = rest[r.port]
		}
		evs = append(evs, evidence(r.answer, o))
	}
	return evs, nil
}

// result is one port's answer and, when a hint settled it, its owner.
type result struct {
	answer
	owner   owner
	settled bool
}

// probeAll probes every port concurrently and returns the results in the
// order of ports. Each listener's hinted owner is checked as soon as its
// answer is in, while other ports are still being probed.
func probeAll(ctx context.Context, ports []int, opts Options, f ownerFinder) []result {
	results := make([]result, len(ports))
	var wg sync.WaitGroup
	for i, port := range ports {
		wg.Go(func() {
			r := result{answer: probePort(ctx, port, opts.ConnectTimeout, opts.HealthTimeout)}
			if r.listening && ctx.Err() == nil {
				r.owner, r.settled = f.hinted(port, hintPIDs(opts.Hints[port], r.answer))
			}
			results[i] = r
		})
	}
	wg.Wait()
	return results
}

// hintPIDs lists where to look for a port's owner first: the caller's hint,
// then the pid the health answer claims. Both are verified before use.
func hintPIDs(hint int, a answer) []int {
	var pids []int
	if hint > 0 {
		pids = append(pids, hint)
	}
	if a.health != nil && a.health.Owner != nil && a.health.Owner.PID > 0 && a.health.Owner.PID != hint {
		pids = append(pids, a.health.Owner.PID)
	}
	return pids
}

// evidence combines what the port answered with what the OS says about the
// socket's owner.
func evidence(a answer, o owner) classify.Evidence {
	ev := classify.Evidence{
		Port:            a.port,
		UID:             o.uid,
		HTTPAnswered:    a.httpAnswered,
		Health:          a.health,
		HealthRawFields: a.keys,
		Wedged:          a.wedged(),
	}
	if o.info.PID > 0 {
		ev.PID = o.info.PID
		ev.StartTime = o.info.StartTime
		ev.Argv = o.info.Argv
		ev.ArgvReadable = o.info.ArgvReadable
		ev.Exe = o.info.Exe
		if o.info.UID >= 0 {
			ev.UID = o.info.UID
		}
	}
	return ev
}

// maxPort is the largest TCP port.
const maxPort = 1<<16 - 1

// validPorts returns the ports sorted and without duplicates, or an error
// naming the first port that is not a TCP port.
func validPorts(ports []int) ([]int, error) {
	out := slices.Clone(ports)
	for _, p := range out {
		if p < 1 || p > maxPort {
			return nil, fmt.Errorf("invalid port %d", p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
