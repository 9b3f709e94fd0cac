//go:build linux

package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
)

// readyWait bounds the wait for a process the harness started to listen or
// for a port or process to go away.
const readyWait = 15 * time.Second

// Proc is a process the harness started. It is killed (SIGCONT, then
// SIGKILL, by PID) and reaped when the test ends.
type Proc struct {
	PID   int
	Port  int
	Token string
	Argv  []string
	cmd   *exec.Cmd
	done  chan struct{}
}

// Exited reports whether the process has exited (and been reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitExit waits until the process has exited; false on timeout.
func (p *Proc) WaitExit(limit time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// Wedge stops the process with SIGSTOP: its port still accepts connections
// (the kernel completes the handshake) but nothing is ever answered. It
// returns once every thread has stopped: the kernel hands SIGSTOP to one
// thread, and while that one sleeps uninterruptibly (disk I/O) the others
// go on serving, so a scan right after kill(2) could still get answers.
func (p *Proc) Wedge(t testing.TB) {
	t.Helper()
	WedgePID(t, p.PID)
}

// WedgePID is Wedge for a process the harness did not start itself (a
// daemon spawned by the CLI under test); KillScope ends it.
func WedgePID(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("wedging pid %d: %v", pid, err)
	}
	if !poll(readyWait, func() bool { return allStopped(pid) }) {
		t.Fatalf("wedging pid %d: not every thread stopped within %v", pid, readyWait)
	}
}

// allStopped reports whether every thread of pid is in a stopped state.
func allStopped(pid int) bool {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return false
	}
	threads, err := fs.AllThreads(pid)
	if err != nil || len(threads) == 0 {
		return false
	}
	for _, th := range threads {
		st, err := th.Stat()
		if err != nil || (st.State != "T" && st.State != "t") {
			return false
		}
	}
	return true
}

// start runs argv (argv[0] is shown in /proc, path is what runs) in its own
// session and registers its cleanup.
func (e *Env) start(path string, argv []string, env []string, stdin string, port int) *Proc {
	e.t.Helper()
	logPath := filepath.Join(e.t.TempDir(), fmt.Sprintf("proc-%d.log", port))
	logf, err := os.Create(logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Stdout: logf, Stderr: logf}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("starting %v: %v", argv, err)
	}
	p := &Proc{PID: cmd.Process.Pid, Port: port, Argv: argv, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		if !p.Exited() {
			_ = syscall.Kill(p.PID, syscall.SIGCONT)
			_ = cmd.Process.Kill() // through the pidfd Go holds: cannot hit a reused pid
			p.WaitExit(readyWait)
		}
	})
	return p
}

// DaemonOpts shape a sync daemon started directly in the production spawn
// shape, as an older or foreign CLI would have left it.
type DaemonOpts struct {
	Port    int
	Version string // SPEC_KITTY_CLI_VERSION; "" for the build's own
	// Root is the scope marker. Nil means this Env's scope; a pointer to ""
	// starts a pre-marker daemon with no marker at all.
	Root *string
	// Home is the daemon's SPEC_KITTY_HOME; "" means this Env's.
	Home string
	// Exec is the --spec-kitty-daemon-exec value; "" means the binary.
	Exec string
}

// SpawnDaemon starts a real sync daemon and waits until it answers health.
func (e *Env) SpawnDaemon(o DaemonOpts) *Proc {
	e.t.Helper()
	root := e.Home
	if o.Root != nil {
		root = *o.Root
	}
	home := e.Home
	if o.Home != "" {
		home = o.Home
	}
	exe := Bin()
	if o.Exec != "" {
		exe = o.Exec
	}
	argv := []string{Bin(), lifecycle.SyncDaemonCommand, lifecycle.FlagPort + strconv.Itoa(o.Port)}
	if root != "" {
		argv = append(argv, lifecycle.FlagDaemonRoot+root)
	}
	argv = append(argv, lifecycle.FlagDaemonExec+exe)
	env := append(e.Environ(), "SPEC_KITTY_HOME="+home)
	if o.Version != "" {
		env = append(env, "SPEC_KITTY_CLI_VERSION="+o.Version)
	}
	token := spawn.NewToken()
	p := e.start(Bin(), argv, env, token+"\n", o.Port)
	p.Token = token
	e.waitHealth(p)
	return p
}

func (e *Env) waitHealth(p *Proc) {
	e.t.Helper()
	deadline := time.Now().Add(readyWait)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := client.New(p.Port).Health(ctx)
		cancel()
		if err == nil && h.Owner != nil && h.Owner.PID == p.PID {
			return
		}
		if p.Exited() {
			e.t.Fatalf("process %v exited before it was healthy", p.Argv)
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("process %v on port %d not healthy within %v", p.Argv, p.Port, readyWait)
}

// KillScope kills, by PID, every process whose argv carries the scope
// marker of home (a test's private temp dir, so only the test's own
// daemons), and waits until they are gone.
func KillScope(t testing.TB, home string) {
	marker := lifecycle.FlagDaemonRoot + home
	for _, pid := range PIDsWithArg(marker) {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Signal(syscall.SIGCONT)
			_ = p.Kill()
		}
		if !WaitExited(pid, readyWait) {
			t.Errorf("cleanup: pid %d of scope %s survived SIGKILL", pid, home)
		}
	}
}

// PIDsWithArg lists live processes having arg exactly in their argv.
func PIDsWithArg(arg string) []int {
	return PIDsWhere(func(argv []string) bool { return slices.Contains(argv, arg) })
}

// PIDsWhere lists live processes whose argv satisfies match.
func PIDsWhere(match func(argv []string) bool) []int {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return nil
	}
	var out []int
	for _, p := range procs {
		argv, err := p.CmdLine()
		if err == nil && match(argv) && procinfo.Alive(p.PID) {
			out = append(out, p.PID)
		}
	}
	return out
}

// WaitExited waits until pid has exited (a zombie counts as exited).
func WaitExited(pid int, limit time.Duration) bool {
	return poll(limit, func() bool { return !procinfo.Alive(pid) })
}

func poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	delay := time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
}
