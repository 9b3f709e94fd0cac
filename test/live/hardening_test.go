package live

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// hangBound ends a command that would otherwise hang the test run. It is a
// guard against a hang, not a speed assertion: every command here finishes
// in well under a second when it works.
const hangBound = time.Minute

// runIn runs the binary with the Env's environment in dir (the test's own
// when empty), failing the test if it does not finish within hangBound.
func runIn(t *testing.T, e *testenv.Env, dir string, args ...string) testenv.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Bin(), args...)
	cmd.Env, cmd.Dir = e.Environ(), dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("spec-kitty %v hung (killed after %v)\nstderr: %s", args, hangBound, errOut.String())
	}
	res := testenv.Result{Args: args, Stdout: out.String(), Stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running spec-kitty %v: %v", args, err)
	}
	return res
}

// TestTrust_RootOthersCanWriteIsRefused: a runtime root (or a folder under
// it) that group or others can write is refused with one line naming the
// path and the fix, exit 1; nothing starts, and a daemon started on it by
// hand refuses too (SPEC §3, issue 12 defect 1).
func TestTrust_RootOthersCanWriteIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(e *testenv.Env) string
	}{
		{"root", func(e *testenv.Env) string { return e.Home }},
		{"daemons folder", func(e *testenv.Env) string { return e.Path("daemons") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t)
			dir := tc.dir(e)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(dir, 0o700)
			for _, args := range [][]string{{"sync", "start", "--json"}, {"auth", "doctor"}, {"sync", "status"}} {
				res := runIn(t, e, "", args...)
				lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
				if res.Code != 1 || len(lines) != 1 || !strings.Contains(res.Stderr, dir) || !strings.Contains(res.Stderr, "chmod 700 "+dir) {
					t.Errorf("spec-kitty %v: exit %d, stderr %q; want exit 1 and one line naming %s and the fix", args, res.Code, res.Stderr, dir)
				}
			}
			if pids := e.ScopeDaemons(); len(pids) != 0 {
				t.Errorf("daemons started on an untrusted root: %v", pids)
			}
			if _, err := os.Stat(e.Path("sync-daemon")); !os.IsNotExist(err) {
				t.Errorf("state file written on an untrusted root: %v", err)
			}

			// The daemon checks at start too.
			port := testenv.FreePorts(t, api.SyncRange, 1)[0]
			ctx, cancel := context.WithTimeout(context.Background(), hangBound)
			defer cancel()
			cmd := exec.CommandContext(ctx, testenv.Bin(), lifecycle.SyncArgv(port, e.Home, testenv.Bin())...)
			cmd.Env = e.Environ()
			cmd.Stdin = strings.NewReader(spawn.NewToken() + "\n")
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil || err == nil {
				t.Fatalf("daemon on an untrusted root: err %v (ctx %v), output %s; want it to refuse", err, ctx.Err(), out)
			}
			if !strings.Contains(string(out), dir) {
				t.Errorf("daemon refusal %q does not name %s", out, dir)
			}
		})
	}
}

// TestTrust_SymlinkedLogIsNotFollowed: a daemon log that is a symlink (to a
// shell rc file, say) is never written through (SPEC §3).
func TestTrust_SymlinkedLogIsNotFollowed(t *testing.T) {
	e := testenv.New(t)
	target := filepath.Join(t.TempDir(), "bashrc")
	if err := os.WriteFile(target, []byte("# rc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, e.Path("sync-daemon.log")); err != nil {
		t.Fatal(err)
	}
	res := runIn(t, e, "", "sync", "start", "--json")
	if res.Code != 1 || !strings.Contains(res.Stderr, "not a regular file") {
		t.Errorf("sync start with a symlinked log: exit %d, stderr %q; want exit 1, not a regular file", res.Code, res.Stderr)
	}
	if data, _ := os.ReadFile(target); string(data) != "# rc\n" {
		t.Errorf("the symlink's target was written: %q", data)
	}
}

// TestFIFO_ReadersNeverHang: a FIFO at the state file or at a per-instance
// record makes the read-only commands report an unusable file, never hang
// (SPEC §3, issue 12 defect 2).
func TestFIFO_ReadersNeverHang(t *testing.T) {
	e := testenv.New(t)
	if err := syscall.Mkfifo(e.Path("sync-daemon"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.Path("daemons"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(e.Path("daemons", "9449.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := runIn(t, e, "", "sync", "status", "--json")
	if !strings.Contains(st.Stdout+st.Stderr, "not a regular file") {
		t.Errorf("sync status: exit %d, stdout %s stderr %s; want the FIFO named as not a regular file", st.Code, st.Stdout, st.Stderr)
	}
	doc := runIn(t, e, "", "auth", "doctor", "--json")
	if doc.Code != 0 || !strings.Contains(doc.Stdout, "not a regular file") {
		t.Errorf("auth doctor: exit %d, stdout %s stderr %s; want a finding naming the FIFO", doc.Code, doc.Stdout, doc.Stderr)
	}
}

// TestDoctor_HumanOutputPrintsEveryFinding: info findings are printed too,
// after the more severe ones (issue 12 defect 8).
func TestDoctor_HumanOutputPrintsEveryFinding(t *testing.T) {
	e := testenv.New(t)
	res := runIn(t, e, "", "auth", "doctor")
	if res.Code != 0 || !strings.Contains(res.Stdout, "info: not logged in: events stay queued locally") {
		t.Errorf("auth doctor: exit %d, stdout:\n%s\nwant the info finding about the missing login", res.Code, res.Stdout)
	}
}

// TestDaemon_RetirementOwnerRecordAndDirectory: a state file naming this
// daemon's own port with an unrelated live pid does not supersede it (it
// retires idle, later); on exit it removes owner.json; and it runs in /,
// not the directory it was started from (SPEC §3, §9; issue 12 defects
// 10, 11, 12).
func TestDaemon_RetirementOwnerRecordAndDirectory(t *testing.T) {
	e := testenv.New(t)
	e.Vars[envTick] = "0.05"
	e.Vars["SPEC_KITTY_IDLE_RETIREMENT_SECONDS"] = "1"
	cwd := t.TempDir()
	var res api.StartResult
	out := runIn(t, e, cwd, "sync", "start", "--json")
	if out.Code != 0 || json.Unmarshal([]byte(out.Stdout), &res) != nil || !res.Started {
		t.Fatalf("sync start: exit %d\n%s\n%s", out.Code, out.Stdout, out.Stderr)
	}
	if dir, err := os.Readlink("/proc/" + itoa(res.PID) + "/cwd"); err != nil || dir != "/" {
		t.Errorf("daemon cwd = %q (%v), want /", dir, err)
	}
	rec, err := statefile.Read(e.Path("sync-daemon"))
	if err != nil {
		t.Fatal(err)
	}
	rec.PID = os.Getpid() // an unrelated live process on the daemon's own port
	if err := statefile.Write(e.Path("sync-daemon"), rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.Path("daemon", "owner.json")); err != nil {
		t.Fatalf("owner.json missing while the daemon runs: %v", err)
	}
	if !testenv.WaitExited(res.PID, hangBound) {
		t.Fatalf("daemon pid %d did not retire", res.PID)
	}
	log, _ := os.ReadFile(e.Path("sync-daemon.log"))
	if !bytes.Contains(log, []byte(`"reason":"idle"`)) || bytes.Contains(log, []byte("superseded")) {
		t.Errorf("daemon log does not show an idle retirement:\n%s", log)
	}
	if _, err := os.Stat(e.Path("daemon", "owner.json")); !os.IsNotExist(err) {
		t.Errorf("owner.json outlived its daemon: %v", err)
	}
}

// TestSync_StrayRecordsArePruned: malformed per-instance records and those
// whose pid is dead or now another process are pruned by the next start, so
// they stop sending the reuse path into a range scan (issue 12 defect 9).
func TestSync_StrayRecordsArePruned(t *testing.T) {
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	first := start(t, e)
	others := testenv.FreePorts(t, api.SyncRange, 4)
	var strays []int
	for _, p := range others {
		if p != first.Port && len(strays) < 3 {
			strays = append(strays, p)
		}
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	self, err := procinfo.Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	write := func(port int, body string) {
		if err := os.WriteFile(e.Path("daemons", itoa(port)+".json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(strays[0], "{not json")
	write(strays[1], `{"pid":`+itoa(dead.Process.Pid)+`,"port":`+itoa(strays[1])+`,"token":"t","version":"x"}`)
	write(strays[2], `{"pid":`+itoa(os.Getpid())+`,"port":`+itoa(strays[2])+`,"token":"t","version":"x","proc_start_time":`+
		itoa(int(self.StartTime+1))+`}`)

	again := start(t, e)
	if !again.Reused || again.PID != first.PID {
		t.Fatalf("second start = %+v, want reuse of pid %d", again, first.PID)
	}
	for _, p := range strays {
		if _, err := os.Stat(e.Path("daemons", itoa(p)+".json")); !os.IsNotExist(err) {
			t.Errorf("stray record for port %d not pruned: %v", p, err)
		}
	}
	if _, err := os.Stat(e.Path("daemons", itoa(first.Port)+".json")); err != nil {
		t.Errorf("the live daemon's own record is gone: %v", err)
	}
}
