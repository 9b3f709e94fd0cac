package probe

import (
	"cmp"
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

func scanOne(t *testing.T, port int, hints map[int]int) classify.Evidence {
	t.Helper()
	evs := scan(t, Options{Ports: []int{port}, HealthTimeout: testHealthTimeout, Hints: hints})
	if len(evs) != 1 || evs[0].Port != port {
		t.Fatalf("Scan of port %d = %+v, want one result", port, evs)
	}
	return evs[0]
}

// assertOwner checks that ev names h's process, as the OS knows it.
func assertOwner(t *testing.T, ev classify.Evidence, h helperProc) {
	t.Helper()
	if ev.PID != h.pid {
		t.Fatalf("pid = %d, want %d", ev.PID, h.pid)
	}
	info, err := procinfo.Read(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	if ev.StartTime == 0 || ev.StartTime != info.StartTime {
		t.Errorf("start time = %d, want %d", ev.StartTime, info.StartTime)
	}
	if !ev.ArgvReadable || !slices.Equal(ev.Argv, h.cmd.Args) {
		t.Errorf("argv = %q (readable %v), want %q", ev.Argv, ev.ArgvReadable, h.cmd.Args)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	if ev.Exe != exe {
		t.Errorf("exe = %q, want %q", ev.Exe, exe)
	}
	if ev.UID != os.Getuid() {
		t.Errorf("uid = %d, want %d", ev.UID, os.Getuid())
	}
}

func TestScan_ResolvesOwnerOfChildDaemon(t *testing.T) {
	h := startHelper(t, helperSync)
	ev := scanOne(t, h.port, nil)
	assertOwner(t, ev, h)
	if ev.Wedged || !ev.HTTPAnswered || ev.Health == nil || ev.Health.Owner.PID != h.pid {
		t.Errorf("health evidence = %+v, want the daemon's own answer", ev)
	}
}

// TestScan_UnhintedOwnerFoundByScan: no hint and no self-report, so the
// owner is found by scanning this user's processes.
func TestScan_UnhintedOwnerFoundByScan(t *testing.T) {
	h := startHelper(t, helperText)
	ev := scanOne(t, h.port, nil)
	assertOwner(t, ev, h)
	if !ev.HTTPAnswered || ev.Health != nil {
		t.Errorf("answered=%v health=%v, want a non-health HTTP answer", ev.HTTPAnswered, ev.Health)
	}
}

func TestScan_WrongHintsDoNotMislead(t *testing.T) {
	other := startHelper(t, helperSync)
	// The liar's health names the other daemon as its owner.
	liar := startHelper(t, helperSync, envClaimPID+"="+strconv.Itoa(other.pid))
	tests := []struct {
		name string
		hint int
	}{
		{"self-report only", 0},
		{"hint names another daemon", other.pid},
		{"hint names the scanning process", os.Getpid()},
		{"hint names no process", 1 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := scanOne(t, liar.port, map[int]int{liar.port: tt.hint})
			assertOwner(t, ev, liar)
			if ev.Health == nil || ev.Health.Owner.PID != other.pid {
				t.Errorf("health = %+v, want the lie preserved as evidence", ev.Health)
			}
		})
	}
}

func TestScan_InProcessListenerIsOwnedByThisProcess(t *testing.T) {
	port := listen(t, silent)
	ev := scanOne(t, port, nil)
	if ev.PID != os.Getpid() || !ev.Wedged {
		t.Errorf("pid=%d wedged=%v, want pid %d and wedged", ev.PID, ev.Wedged, os.Getpid())
	}
}

func TestReachTier(t *testing.T) {
	tests := []struct {
		addr string
		want int
	}{
		{"127.0.0.1", 3},
		{"::ffff:127.0.0.1", 3},
		{"0.0.0.0", 2},
		{"::", 1},
		{"::1", 0},
		{"127.0.0.2", 0},
		{"192.168.1.10", 0},
	}
	for _, tt := range tests {
		if got := reachTier(net.ParseIP(tt.addr)); got != tt.want {
			t.Errorf("reachTier(%s) = %d, want %d", tt.addr, got, tt.want)
		}
	}
}

func TestPickSockets(t *testing.T) {
	line := func(addr string, port int, inode uint64) listenLine {
		return listenLine{addr: net.ParseIP(addr), port: port, inode: inode, uid: 1000}
	}
	tests := []struct {
		name  string
		lines []listenLine
		want  map[int]uint64 // port → inode
	}{
		{"loopback", []listenLine{line("127.0.0.1", 9401, 11)}, map[int]uint64{9401: 11}},
		{"most specific address wins",
			[]listenLine{line("::", 9401, 10), line("0.0.0.0", 9401, 11), line("127.0.0.1", 9401, 12)},
			map[int]uint64{9401: 12}},
		{"any address over IPv6 any", []listenLine{line("::", 9401, 10), line("0.0.0.0", 9401, 11)}, map[int]uint64{9401: 11}},
		{"::1 cannot have answered 127.0.0.1", []listenLine{line("::1", 9401, 10)}, map[int]uint64{}},
		{"two sockets tie: unknown", []listenLine{line("127.0.0.1", 9401, 10), line("127.0.0.1", 9401, 11)}, map[int]uint64{}},
		{"a lower tier does not break a tie at the top",
			[]listenLine{line("127.0.0.1", 9401, 10), line("0.0.0.0", 9401, 11)}, map[int]uint64{9401: 10}},
		{"same socket in both tables is one socket",
			[]listenLine{line("127.0.0.1", 9401, 10), line("::ffff:127.0.0.1", 9401, 10)}, map[int]uint64{9401: 10}},
		{"unrequested port ignored", []listenLine{line("127.0.0.1", 9500, 10)}, map[int]uint64{}},
		{"inode 0 ignored", []listenLine{line("127.0.0.1", 9401, 0)}, map[int]uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pickSockets(tt.lines, map[int]bool{9401: true})
			gotInodes := make(map[int]uint64, len(got))
			for port, s := range got {
				gotInodes[port] = s.inode
				if s.uid != 1000 {
					t.Errorf("port %d: uid = %d, want 1000", port, s.uid)
				}
			}
			if len(gotInodes) != len(tt.want) {
				t.Fatalf("got %v, want %v", gotInodes, tt.want)
			}
			for port, inode := range tt.want {
				if gotInodes[port] != inode {
					t.Errorf("got %v, want %v", gotInodes, tt.want)
				}
			}
		})
	}
}

func TestResolveOwners_PortWithoutSocketIsUnknown(t *testing.T) {
	port := closedPort(t)
	owners := resolveOwners(context.Background(), map[int][]int{port: {os.Getpid()}})
	if o := owners[port]; o.info.PID != 0 || o.uid != -1 {
		t.Errorf("port %d: owner %+v, want unknown", port, o)
	}
}

// TestListenLines_SockDiagAgreesWithProc checks the fast netlink path
// against the reading of /proc/net/tcp{,6} on this machine.
func TestListenLines_SockDiagAgreesWithProc(t *testing.T) {
	listen(t, silent) // at least one listener of our own
	type key struct {
		addr  string
		port  int
		inode uint64
		uid   int
	}
	keys := func(lines []listenLine) []key {
		var out []key
		for _, l := range lines {
			out = append(out, key{l.addr.String(), l.port, l.inode, l.uid})
		}
		slices.SortFunc(out, func(a, b key) int { return cmp.Compare(a.inode, b.inode) })
		return out
	}
	fast, err := listenLines()
	if err != nil {
		t.Fatal(err)
	}
	slow, err := procListenLines()
	if err != nil {
		t.Fatal(err)
	}
	if f, s := keys(fast), keys(slow); !slices.Equal(f, s) {
		t.Errorf("sock_diag and /proc disagree:\nsock_diag: %v\n/proc:     %v", f, s)
	}
	if len(fast) == 0 {
		t.Error("no listening socket found")
	}
}

// resolveOwners resolves listeners (port → pids to try first) the way Scan
// does, without probing them.
func resolveOwners(ctx context.Context, listeners map[int][]int) map[int]owner {
	f := newFinder(slices.Collect(maps.Keys(listeners)))
	out := make(map[int]owner, len(listeners))
	var rest []int
	for port, pids := range listeners {
		if o, done := f.hinted(port, pids); done {
			out[port] = o
		} else {
			rest = append(rest, port)
		}
	}
	maps.Copy(out, f.rest(ctx, rest))
	return out
}
