//go:build linux

package live

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// Issue 18's rows that cross processes: a terminal, a daemon, files left
// on disk.

// onPty runs the binary with args on a pseudo-terminal (script(1)), with
// the Env's environment plus vars; stdin is the pty's input.
func onPty(t *testing.T, e *testenv.Env, vars []string, args string) (*exec.Cmd, *syncBuffer, func([]byte)) {
	t.Helper()
	testenv.RequireTool(t, "script", "a pty for the terminal-only behaviour")
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "script", "-qfec", testenv.Bin()+" "+args, "/dev/null")
	cmd.Env = append(e.Environ(), vars...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out, func(b []byte) {
		if _, err := stdin.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// exitCode is cmd's exit status after Wait.
func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestUX_PromptNamesTheRootAndOneCtrlCAborts: the y/N question of
// `auth doctor --reset` names a cross_root daemon's root with the
// runbook's advice, and one Ctrl-C ends it: a newline, exit 130, the
// daemon untouched (SPEC §12 Details users expect; issue 18).
func TestUX_PromptNamesTheRootAndOneCtrlCAborts(t *testing.T) {
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	other, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	d := e.SpawnDaemon(testenv.DaemonOpts{Port: port, Root: testenv.Ptr(other)})

	cmd, out, write := onPty(t, e, []string{"TERM=dumb"}, "auth doctor --reset")
	waitUntil(t, "the y/N question", func() bool { return strings.Contains(out.String(), "[y/N]") })
	line := "port " + itoa(port) + ": cross_root (root " + other + "); better cleaned from its own scope: SPEC_KITTY_HOME=" + other + " spec-kitty auth doctor --reset"
	if !strings.Contains(out.String(), line) {
		t.Errorf("the question does not name the root and the advice %q:\n%s", line, out.String())
	}
	write([]byte{0x03}) // one Ctrl-C, as the terminal sends it
	err = cmd.Wait()
	text := out.String()
	if code := exitCode(err); code != 130 {
		t.Fatalf("after one ^C: exit %d (%v), want 130\n%q", code, err, text)
	}
	after := text[strings.LastIndex(text, "[y/N]"):]
	if !strings.Contains(after, "\n") || strings.Contains(after, "swept") || strings.Contains(after, "stopping") {
		t.Errorf("want the question's line ended and nothing done after ^C: %q", after)
	}
	mustAlive(t, "after ^C at the question", d)
}

// TestUX_CorruptQueueIsNamedOnTheErrorLine: `sync start` with a queue file
// that is not a database says so on its one error line with the fix, and
// leaves the file exactly as it was.
func TestUX_CorruptQueueIsNamedOnTheErrorLine(t *testing.T) {
	e := testenv.New(t)
	garbage := bytes.Repeat([]byte("not sqlite "), 500)
	db := e.Path("sync-daemon-queue.db")
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	res := e.Run("sync", "start")
	want := "the queue " + db + " cannot be opened: file is not a database"
	if res.Code != 1 || !strings.Contains(res.Stderr, want) || !strings.Contains(res.Stderr, "move it aside (mv "+db+" "+db+".bad)") ||
		!strings.Contains(res.Stderr, "nothing is deleted") || strings.Count(res.Stderr, "\n") != 1 {
		t.Fatalf("sync start: exit %d, stderr %q; want one line with %q and the fix", res.Code, res.Stderr, want)
	}
	if got, err := os.ReadFile(db); err != nil || !bytes.Equal(got, garbage) {
		t.Errorf("the queue file was changed or removed: %v", err)
	}
	if len(e.ScopeDaemons()) != 0 {
		t.Errorf("daemons left running: %v", e.ScopeDaemons())
	}
}

// TestUX_DashboardRefusesANonProjectAndLeavesNothing: a directory without
// .kittify/config.yaml is refused (one line, exit 1) and nothing is created
// in it, by the start nor by --stop; a real project's dashboard and the
// sync daemon leave no empty crash file after a clean stop.
func TestUX_DashboardRefusesANonProjectAndLeavesNothing(t *testing.T) {
	e := testenv.New(t)
	plain := t.TempDir()
	res := e.Run("dashboard", "--project", plain)
	if res.Code != 1 || !strings.Contains(res.Stderr, plain+" is not a spec-kitty project (no .kittify/config.yaml)") || strings.Count(res.Stderr, "\n") != 1 {
		t.Errorf("dashboard on a non-project: exit %d, stderr %q", res.Code, res.Stderr)
	}
	if stop := e.Run("dashboard", "--project", plain, "--stop"); stop.Code != 0 {
		t.Errorf("dashboard --stop on a non-project: exit %d, stderr %q", stop.Code, stop.Stderr)
	}
	if left, _ := os.ReadDir(plain); len(left) != 0 {
		t.Errorf("left behind in the non-project: %v", left)
	}

	project := e.NewProject()
	dashStart(t, e, project)
	if stop := e.Run("dashboard", "--project", project, "--stop"); stop.Code != 0 {
		t.Fatalf("dashboard --stop: %d %s", stop.Code, stop.Stderr)
	}
	crash := filepath.Join(project, ".kittify", "dashboard.log.crash")
	waitUntil(t, "the dashboard's empty crash file to go", func() bool { _, err := os.Lstat(crash); return os.IsNotExist(err) })

	started := start(t, e)
	var stopped api.StopResult
	e.MustJSON(&stopped, "sync", "stop", "--json")
	if !stopped.Stopped || stopped.PID == nil || *stopped.PID != started.PID || *stopped.Port != started.Port {
		t.Errorf("sync stop --json = %+v, want stopped pid %d port %d", stopped, started.PID, started.Port)
	}
	if _, err := os.Lstat(e.Path("sync-daemon.log.crash")); !os.IsNotExist(err) {
		t.Errorf("sync-daemon.log.crash left after a clean stop: %v", err)
	}
}

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestUX_ColourOnATerminalOnly: on a terminal the status health and the
// doctor's severities are coloured; with NO_COLOR, or piped, there is no
// escape sequence at all.
func TestUX_ColourOnATerminalOnly(t *testing.T) {
	e := testenv.New(t)
	term := []string{"TERM=xterm-256color", "NO_COLOR="}
	for _, c := range []struct {
		args, word string
	}{
		{"sync status", "not running"},
		{"auth doctor", "info"}, // logged out, no daemon: info findings
	} {
		cmd, out, _ := onPty(t, e, term, c.args)
		_ = cmd.Wait()
		if !regexp.MustCompile("\x1b\\[[0-9;]*m" + c.word + "\x1b\\[").MatchString(out.String()) {
			t.Errorf("%s on a terminal: %q not coloured:\n%q", c.args, c.word, out.String())
		}
		cmd, out, _ = onPty(t, e, []string{"TERM=xterm-256color", "NO_COLOR=1"}, c.args)
		_ = cmd.Wait()
		if sgr.MatchString(out.String()) || !strings.Contains(out.String(), c.word) {
			t.Errorf("%s with NO_COLOR=1: %q", c.args, out.String())
		}
		piped := e.RunWith(map[string]string{"TERM": "xterm-256color", "NO_COLOR": ""}, "", strings.Fields(c.args)...)
		if sgr.MatchString(piped.Stdout+piped.Stderr) || !strings.Contains(piped.Stdout, c.word) {
			t.Errorf("%s piped: %q", c.args, piped.Stdout)
		}
	}
}

// TestUX_SyncLogsReadableOnATerminal: a real daemon's log reads as
// `time level message key=value` on a terminal and stays JSON when piped.
func TestUX_SyncLogsReadableOnATerminal(t *testing.T) {
	e := testenv.New(t)
	start(t, e)
	cmd, out, _ := onPty(t, e, []string{"TERM=dumb"}, "sync logs")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sync logs on a terminal: %v\n%s", err, out.String())
	}
	readable := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO sync daemon started pid=\d+ port=\d+ family=sync `)
	if !readable.MatchString(out.String()) {
		t.Errorf("sync logs on a terminal:\n%q", out.String())
	}
	piped := e.Run("sync", "logs")
	var started bool
	for _, line := range strings.Split(strings.TrimSpace(piped.Stdout), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("sync logs piped: not a JSON line: %q", line)
		}
		started = started || rec["msg"] == "sync daemon started"
	}
	if piped.Code != 0 || !started {
		t.Errorf("sync logs piped: exit %d %q", piped.Code, piped.Stdout)
	}
}
