//go:build linux

package live

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

	// A FIFO at the session: doctor reports it, the daemon's health answers.
	if err := os.Remove(e.Path("sync-daemon")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.Path("auth"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(e.Path("auth", "session.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc = runIn(t, e, "", "auth", "doctor", "--json")
	if !strings.Contains(doc.Stdout, "session.json") {
		t.Errorf("auth doctor with a FIFO session: exit %d, stdout %s; want the session named", doc.Code, doc.Stdout)
	}
	first := runIn(t, e, "", "sync", "start", "--json")
	if first.Code != 0 {
		t.Fatalf("sync start with a FIFO session: exit %d, stderr %s", first.Code, first.Stderr)
	}
	if st := runIn(t, e, "", "sync", "status", "--json"); !strings.Contains(st.Stdout, `"healthy": true`) {
		t.Errorf("sync status with a FIFO session: %s %s", st.Stdout, st.Stderr)
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
	e.Vars["SPEC_KITTY_IDLE_RETIREMENT_SECONDS"] = "3" // room for the checks below before it retires
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

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitUntil polls until cond holds, failing the test after hangBound.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %v", what, hangBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReset_PromptBeforeScopeLock: on a terminal (a pty from script(1)),
// `auth doctor --reset` asks its y/N question before it takes the scope
// lock, so `sync start` succeeds while the question waits; the header comes
// only after the answer, each escalation step gets a line, and the pre-reset
// table is not repeated (SPEC §8; issue 12 defect 3, issue 13 point 5).
func TestReset_PromptBeforeScopeLock(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script(1) is needed for a pty")
		}
		t.Skip("script(1) is needed for a pty")
	}
	e := testenv.New(t)
	e.Vars[envTick] = "3600"
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	pre := e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: "3.2.2", Root: testenv.Ptr("")})
	guardForce(t, e, port) // a "y" approves every operator_required daemon listed

	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qfec", testenv.Bin()+" auth doctor --reset", "/dev/null")
	cmd.Env = append(e.Environ(), "TERM=dumb")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the y/N question", func() bool { return strings.Contains(out.String(), "[y/N]") })
	if strings.Contains(out.String(), "stopping") {
		t.Errorf("the header came before the answer:\n%s", out.String())
	}
	// While the question waits, the scope lock is free.
	started := runIn(t, e, "", "sync", "start", "--json")
	var res api.StartResult
	if started.Code != 0 || json.Unmarshal([]byte(started.Stdout), &res) != nil {
		t.Fatalf("sync start while the question waits: exit %d, stderr %s", started.Code, started.Stderr)
	}
	// Approve only when the question lists exactly this test's daemon.
	question := out.String()
	if n := strings.Count(question, " port "); n != 1 || !strings.Contains(question, "port "+itoa(port)+":") {
		_, _ = stdin.Write([]byte("n\n"))
		_ = cmd.Wait()
		t.Fatalf("the question lists daemons this test did not start; answered no:\n%s", question)
	}
	if _, err := stdin.Write([]byte("y\n")); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	text := out.String()
	if err != nil {
		t.Fatalf("auth doctor --reset: %v\n%s", err, text)
	}
	q := strings.Index(text, "[y/N]")
	h := strings.Index(text, "stopping 1 daemon…")
	step := -1
	if h >= 0 {
		step = strings.Index(text[h:], "  port "+itoa(port)+": ")
	}
	if q < 0 || h < q || step < 0 {
		t.Errorf("want question, then header, then a step line for port %d:\n%s", port, text)
	}
	if strings.Contains(text, "PORT") || !strings.Contains(text, "swept") {
		t.Errorf("want the result without the pre-reset table:\n%s", text)
	}
	mustGone(t, "after the approved reset", pre.PID)
	if !procinfo.Alive(res.PID) {
		t.Errorf("the daemon started while the question waited (pid %d) is gone", res.PID)
	}
}

// TestReset_InterruptExits130: SIGINT or SIGTERM during the escalation starts no
// further step; the candidate is failed "interrupted", nothing is killed,
// and the command exits 130 (SPEC §8, §12; issue 12 defect 6).
func TestReset_InterruptExits130(t *testing.T) {
	// SPEC §8: an interrupt is Ctrl-C or SIGTERM; both stop the escalation.
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e := testenv.New(t)
			e.Vars[envTick] = "3600"
			port := testenv.FreePorts(t, api.SyncRange, 1)[0]
			w := e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: "3.2.2"})
			w.Wedge(t) // SIGTERM stays pending: the reset waits after it
			guardForce(t, e, port)

			ctx, cancel := context.WithTimeout(context.Background(), hangBound)
			defer cancel()
			cmd := exec.CommandContext(ctx, testenv.Bin(), "auth", "doctor", "--reset", "--force", "--json")
			cmd.Env = e.Environ()
			var out, errOut syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the terminate step", func() bool {
				for _, j := range e.JournalAll() {
					if j.Step == api.PathTerminate && j.Outcome == "sent" {
						return true
					}
				}
				return false
			})
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 130 {
				t.Fatalf("exit: %v, want status 130\nstderr: %s", err, errOut.String())
			}
			var rep api.DoctorReport
			if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.ResetResult == nil {
				t.Fatalf("stdout is not a report with a reset result: %v\n%s", err, out.String())
			}
			if err := validate(compileSchema(t), out.String()); err != nil {
				t.Errorf("the interrupted report does not match the schema: %v", err)
			}
			var interrupted bool
			for _, f := range rep.ResetResult.Failed {
				interrupted = interrupted || (f.Port == port && f.FailureReason == "interrupted")
			}
			if !interrupted {
				t.Errorf("reset_result %+v, want port %d failed: interrupted", rep.ResetResult, port)
			}
			if strings.Contains(errOut.String(), "sending SIGTERM") || strings.Contains(errOut.String(), "stopping") {
				t.Errorf("progress lines without a terminal:\n%s", errOut.String())
			}
			mustAlive(t, "after the interrupt", w)
			for _, j := range e.JournalAll() {
				if j.Step == api.PathKill {
					t.Errorf("journal %+v: a kill step after the interrupt", j)
				}
			}
		})
	}
}

// TestDoctor_HungRecordedDaemonIsRepairable: a recorded daemon that does not
// answer health is operator_required/unresponsive, named by a warning
// "recorded daemon not healthy" with its remedy; that remedy stops it and
// the next `sync start` starts a fresh daemon (SPEC §7 row 5; issue 12
// defect 7).
func TestDoctor_HungRecordedDaemonIsRepairable(t *testing.T) {
	e := testenv.New(t)
	first := start(t, e)
	testenv.WedgePID(t, first.PID)

	rep, _ := doctorJSON(t, e, 0)
	r := wantClass(t, byPort(rep), "hung recorded daemon", first.Port, api.ClassOperatorRequired, api.SkipUnresponsive)
	if r.IsRecordedSingleton {
		t.Errorf("hung recorded daemon still is_recorded_singleton: %+v", r)
	}
	var warned bool
	for _, f := range rep.Findings {
		warned = warned || (f.Severity == "warning" && strings.Contains(f.Summary, "recorded daemon not healthy") &&
			f.Remediation.Command == "spec-kitty auth doctor --reset --force")
	}
	if !warned {
		t.Errorf("findings %+v, want a warning \"recorded daemon not healthy\" naming --reset --force", rep.Findings)
	}
	human := runIn(t, e, "", "auth", "doctor")
	if !strings.Contains(human.Stdout, "recorded daemon not healthy") {
		t.Errorf("human doctor output lacks the warning:\n%s", human.Stdout)
	}

	guardForce(t, e, first.Port)
	reset, _ := doctorJSON(t, e, 0, "--reset", "--force")
	var swept bool
	for _, s := range reset.ResetResult.Swept {
		swept = swept || s.PID == first.PID
	}
	if !swept {
		t.Fatalf("reset_result %+v, want pid %d swept", reset.ResetResult, first.PID)
	}
	mustGone(t, "after --reset --force", first.PID)
	again := start(t, e)
	if !again.Started || again.PID == first.PID {
		t.Errorf("sync start after the repair = %+v, want a fresh daemon", again)
	}
}
