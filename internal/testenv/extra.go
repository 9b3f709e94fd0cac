//go:build linux

package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
)

// Ptr returns a pointer to v. DaemonOpts.Root takes one: Ptr("") starts a
// pre-marker daemon, Ptr(other.Home) a cross-root one.
func Ptr[T any](v T) *T { return &v }

// Alive reports whether the process is still running: not exited, not a
// zombie. A stopped (wedged) process is alive.
func (p *Proc) Alive() bool { return !p.Exited() && procinfo.Alive(p.PID) }

// Journal returns the outcome lines of this Env's cleanup journal (each
// request or signal sent, without the intent line written before it) and
// fails the test unless each names a port inside the sync range and the sync family:
// the audit trail proves no cleanup of this scope ever left its boundaries
// (SPEC §3, §14).
func (e *Env) Journal() []api.JournalEntry {
	e.t.Helper()
	entries, err := cleanup.ReadJournal(e.Path("cleanup-journal.jsonl"))
	if err != nil {
		e.t.Fatalf("reading the cleanup journal: %v", err)
	}
	var sent []api.JournalEntry
	for i, j := range entries {
		if !api.SyncRange.Contains(j.Port) || j.Family != api.FamilySync {
			e.t.Errorf("journal line %d leaves the sync boundaries: %+v", i+1, j)
		}
		if j.Outcome != cleanup.OutcomeIntent {
			sent = append(sent, j)
		}
	}
	return sent
}

// JournalAll is every journal line, the intent lines written before each
// step included.
func (e *Env) JournalAll() []api.JournalEntry {
	e.t.Helper()
	e.Journal() // the boundary checks
	entries, err := cleanup.ReadJournal(e.Path("cleanup-journal.jsonl"))
	if err != nil {
		e.t.Fatalf("reading the cleanup journal: %v", err)
	}
	return entries
}

// RequireTool skips the test where the program tool is not on PATH, except
// under CI=true, where it fails: .ci/run installs every such program, so a
// missing one there is a broken install, not a reason to test less. why says
// what the test needs it for.
func RequireTool(t testing.TB, tool, why string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err == nil {
		return
	}
	msg := tool + " is not on PATH; it is needed " + why + " (.ci/run installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RequireRoot skips the test unless it runs as root: only root can start a
// process as another user.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		const msg = "needs root to start a process as another user"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg) // CI runs as root: this test must run there
		}
		t.Skip(msg)
	}
}

// SpawnDaemonAs starts a real sync daemon as another user (uid, gid) — the
// case SPEC §8 says is never signalled. The daemon serves its own scope: a
// fresh runtime root owned by that user, which is also its marker. It runs a
// copy of the binary in a directory that user can read. Root only (see
// RequireRoot). It returns the process and the daemon's scope id.
func (e *Env) SpawnDaemonAs(port, uid, gid int) (*Proc, string) {
	e.t.Helper()
	shared := e.sharedTempDir("spec-kitty-foreign-bin-", 0o755, 0, 0)
	bin := filepath.Join(shared, "spec-kitty")
	if err := copyFile(Bin(), bin, 0o755); err != nil {
		e.t.Fatalf("copying the binary for uid %d: %v", uid, err)
	}
	home, err := paths.ScopeID(e.sharedTempDir("spec-kitty-foreign-home-", 0o700, uid, gid))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { KillScope(e.t, home) })
	argv := []string{bin, lifecycle.SyncDaemonCommand, lifecycle.FlagPort + strconv.Itoa(port),
		lifecycle.FlagDaemonRoot + home, lifecycle.FlagDaemonExec + bin}
	env := append(e.Environ(), "SPEC_KITTY_HOME="+home, "HOME="+home)
	token := spawn.NewToken()
	p := e.startAs(bin, argv, env, token+"\n", port, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)})
	p.Token = token
	e.waitHealth(p)
	return p, home
}

// sharedTempDir makes a directory outside the test's private temp tree (whose
// parents are 0700) so another user can reach it; it is removed at cleanup,
// after the processes registered later have been killed.
func (e *Env) sharedTempDir(pattern string, mode os.FileMode, uid, gid int) string {
	e.t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// startAs is start with the child's credentials set.
func (e *Env) startAs(path string, argv []string, env []string, stdin string, port int, cred *syscall.Credential) *Proc {
	e.t.Helper()
	logf, err := os.Create(filepath.Join(e.t.TempDir(), fmt.Sprintf("proc-%d.log", port)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer logf.Close()
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Stdout: logf, Stderr: logf, Stdin: strings.NewReader(stdin)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("starting %v: %v", argv, err)
	}
	p := &Proc{PID: cmd.Process.Pid, Port: port, Argv: argv, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Kill() // through the pidfd Go holds
			p.WaitExit(readyWait)
		}
	})
	return p
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Kill ends a process the harness started, through the pidfd Go holds (it
// cannot hit a reused pid), and waits until it has been reaped: a test that
// needs a daemon to exit "on its own" at a precise moment calls it.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	if !p.WaitExit(readyWait) {
		t.Fatalf("pid %d did not exit after SIGKILL within %v", p.PID, readyWait)
	}
}
