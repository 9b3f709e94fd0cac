//go:build linux

package live

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The operator's view (issue 13): version, help, logs, status and stop
// refusals, each through the real binary.

// TestOps_Version: --version and version print the version (the override
// included); version --json has every build field, "unknown" at worst.
func TestOps_Version(t *testing.T) {
	e := testenv.New(t)
	e.Vars["SPEC_KITTY_CLI_VERSION"] = "3.2.4"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if res := e.Run(args...); res.Code != 0 || res.Stdout != "spec-kitty 3.2.4\n" {
			t.Errorf("%v: exit %d, stdout %q", args, res.Code, res.Stdout)
		}
	}
	var info map[string]string
	e.MustJSON(&info, "version", "--json")
	want := map[string]string{"version": "3.2.4", "go_version": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("version --json %s = %q, want %q", k, info[k], v)
		}
	}
	for _, k := range []string{"commit", "build_date"} {
		if info[k] == "" {
			t.Errorf("version --json %s is empty; want a value or \"unknown\"", k)
		}
	}
}

// TestOps_Help: the help topics list every variable and exit status, every
// command has examples, a mistyped command gets a suggestion and an unknown
// flag points to --help.
func TestOps_Help(t *testing.T) {
	e := testenv.New(t)
	env := e.Run("help", "environment")
	for _, v := range []string{"SPEC_KITTY_HOME", "SPEC_KITTY_CLI_VERSION", "SPEC_KITTY_SYNC_DISABLE",
		"SPEC_KITTY_DAEMON_TICK_SECONDS", "SPEC_KITTY_IDLE_RETIREMENT_SECONDS", "SPEC_KITTY_LISTENER_SOURCE"} {
		block := env.Stdout[strings.Index(env.Stdout, v)+1:]
		if !strings.Contains(env.Stdout, v) || !strings.Contains(strings.SplitN(block, "\n  SPEC_", 2)[0], "Default:") {
			t.Errorf("help environment: %s missing or without its default:\n%s", v, env.Stdout)
		}
	}
	codes := e.Run("help", "exit-codes")
	for _, c := range []string{"\n  0 ", "\n  1 ", "\n  2 ", "\n  130 "} {
		if codes.Code != 0 || !strings.Contains(codes.Stdout, c) {
			t.Errorf("help exit-codes: exit %d, no %q:\n%s", codes.Code, c, codes.Stdout)
		}
	}
	if root := e.Run("--help"); !strings.Contains(root.Stdout, "SPEC_KITTY_HOME") {
		t.Errorf("spec-kitty --help does not mention SPEC_KITTY_HOME:\n%s", root.Stdout)
	}
	for _, cmd := range [][]string{{}, {"version"}, {"sync"}, {"sync", "start"}, {"sync", "status"}, {"sync", "stop"},
		{"sync", "logs"}, {"sync", "publish"}, {"auth"}, {"auth", "login"}, {"auth", "status"}, {"auth", "logout"},
		{"auth", "doctor"}, {"sync", "parked"}, {"dashboard"}, {"completion"}, {"completion", "bash"}, {"help"}} {
		res := e.Run(append(cmd, "--help")...)
		if res.Code != 0 || !strings.Contains(res.Stdout, "Examples:\n  ") {
			t.Errorf("spec-kitty %v --help: exit %d, no examples:\n%s", cmd, res.Code, res.Stdout)
		}
	}
	typo := e.Run("synk", "start")
	if typo.Code != 2 || !strings.Contains(typo.Stderr, `did you mean "sync"?`) {
		t.Errorf("synk start: exit %d, stderr %q; want 2 and a suggestion of sync", typo.Code, typo.Stderr)
	}
	flag := e.Run("sync", "status", "--bogus")
	if flag.Code != 2 || !strings.Contains(flag.Stderr, "unknown flag: --bogus") || !strings.Contains(flag.Stderr, "spec-kitty sync status --help") {
		t.Errorf("sync status --bogus: exit %d, stderr %q; want 2 and a pointer to --help", flag.Code, flag.Stderr)
	}
}

// TestOps_LogRotatesAndStaysJSON: a daemon starting on a 6 MiB log rotates it
// to sync-daemon.log.1, writes only JSON lines (a crash recorded by an
// earlier daemon included), and `sync logs -n 5` prints five of them; status
// names the log.
func TestOps_LogRotatesAndStaysJSON(t *testing.T) {
	e := testenv.New(t)
	log := e.Path("sync-daemon.log")
	filler := strings.Repeat(`{"msg":"filler","pad":"`+strings.Repeat("x", 100)+`"}`+"\n", 6<<20/120+1)
	if err := os.WriteFile(log, []byte(filler), 0o600); err != nil {
		t.Fatal(err)
	}
	crash := "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n"
	if err := os.WriteFile(log+".crash", []byte(crash), 0o600); err != nil {
		t.Fatal(err)
	}
	// Before a daemon moves it into the log, sync logs shows it already.
	if pending := e.Run("sync", "logs", "-n", "1"); !strings.Contains(pending.Stdout, `"msg":"an earlier process crashed"`) ||
		!strings.Contains(pending.Stdout, "panic: boom") {
		t.Errorf("sync logs does not show the pending crash:\n%s", pending.Stdout)
	}
	start(t, e)
	if code := e.Run("sync", "stop").Code; code != 0 {
		t.Fatalf("sync stop: exit %d", code)
	}
	rotated, err := os.Stat(log + ".1")
	if err != nil || rotated.Size() != int64(len(filler)) {
		t.Fatalf("sync-daemon.log.1: %v (size %v), want the %d-byte pre-filled log", err, rotated, len(filler))
	}
	data, err := os.ReadFile(log)
	if err != nil || len(data) == 0 || len(data) >= 5<<20 {
		t.Fatalf("sync-daemon.log after rotation: %d bytes, %v", len(data), err)
	}
	var sawCrash bool
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("sync-daemon.log line %d is not JSON: %q", i+1, line)
		}
		if out, _ := rec["output"].(string); strings.Contains(out, "panic: boom") {
			sawCrash = true
		}
	}
	if !sawCrash {
		t.Errorf("the earlier crash is not in the log as a JSON line:\n%s", data)
	}
	if b, _ := os.ReadFile(log + ".crash"); len(b) != 0 {
		t.Errorf("crash file still holds %q after it was logged", b)
	}

	tail := e.Run("sync", "logs", "-n", "5")
	lines := strings.Split(strings.TrimRight(tail.Stdout, "\n"), "\n")
	if tail.Code != 0 || len(lines) != 5 {
		t.Fatalf("sync logs -n 5: exit %d, %d lines:\n%s", tail.Code, len(lines), tail.Stdout)
	}
	if !strings.HasSuffix(string(data), lines[4]+"\n") {
		t.Errorf("sync logs -n 5 does not end with the log's last line %q", lines[4])
	}
	if def := e.Run("sync", "logs"); len(strings.Split(strings.TrimRight(def.Stdout, "\n"), "\n")) != 50 {
		t.Errorf("sync logs prints %d lines, want the default 50", strings.Count(def.Stdout, "\n"))
	}

	st := e.Run("sync", "status")
	if !strings.Contains(st.Stdout, "log: "+log) {
		t.Errorf("sync status does not name the log %s:\n%s", log, st.Stdout)
	}
	var js api.StatusResult
	if err := json.Unmarshal([]byte(e.Run("sync", "status", "--json").Stdout), &js); err != nil || js.LogPath != log {
		t.Errorf("sync status --json log_path = %q (%v), want %s", js.LogPath, err, log)
	}
}

// TestOps_LogsFollowAcrossRotation: `sync logs -f` prints lines appended
// after it started, keeps going when the log is rotated, and ends on SIGINT
// with exit status 130.
func TestOps_LogsFollowAcrossRotation(t *testing.T) {
	e := testenv.New(t)
	log := e.Path("sync-daemon.log")
	if err := os.WriteFile(log, []byte(`{"msg":"old"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Bin(), "sync", "logs", "-n", "0", "-f")
	cmd.Env = e.Environ()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(want string) {
		t.Helper()
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("sync logs -f printed %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("sync logs -f did not print %q", want)
		}
	}
	appendLine := func(line string) {
		f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.WriteString(f, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	// The follower opens the log at its end: wait until it has, by
	// appending until the first line arrives.
	deadline := time.Now().Add(10 * time.Second)
	for got := false; !got; {
		appendLine(`{"msg":"before"}`)
		select {
		case l := <-lines:
			got = l == `{"msg":"before"}`
		case <-time.After(300 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("sync logs -f printed nothing appended to the log")
			}
		}
	}
	for len(lines) > 0 {
		<-lines // extra "before" lines from the wait
	}
	appendLine(`{"msg":"last of the old file"}`)
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendLine(`{"msg":"first of the new file"}`)
	next(`{"msg":"last of the old file"}`)
	next(`{"msg":"first of the new file"}`)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("sync logs -f after SIGINT: %v, want exit status 130", err)
	}
}

// TestOps_StatusExitCodes: exit 1 with nothing running, 0 with a healthy
// daemon (and the queue, failures and last error it reports), 1 again after
// stop.
func TestOps_StatusExitCodes(t *testing.T) {
	e := testenv.New(t)
	none := e.Run("sync", "status")
	if none.Code != 1 || !strings.Contains(none.Stdout, "not running") {
		t.Fatalf("status with nothing running: exit %d\n%s", none.Code, none.Stdout)
	}
	srv := newFakeServer(t)
	srv.failing.Store(true)
	login(t, e, srv.URL)
	start(t, e)
	publish(t, recorded(t, e), 1)
	var st api.StatusResult
	waitFor(t, 30*time.Second, "an upload failure in sync status", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		return st.Sync.ConsecutiveFailures > 0
	})
	human := e.Run("sync", "status")
	if human.Code != 0 || !strings.Contains(human.Stdout, "sync daemon: running, uploads failing") ||
		!strings.Contains(human.Stdout, "1 event waiting") || !strings.Contains(human.Stdout, "consecutive failures: ") {
		t.Fatalf("status with a running daemon whose uploads fail: exit %d\n%s", human.Code, human.Stdout)
	}
	// The human line shows exactly the error the daemon reports, never a
	// token.
	if st.Sync.LastError == nil || !strings.Contains(human.Stdout, "attempt") ||
		!strings.Contains(human.Stdout, "): "+*st.Sync.LastError+"\n") {
		t.Errorf("last_error %v rendered as:\n%s", st.Sync.LastError, human.Stdout)
	}
	if strings.Contains(human.Stdout, "server-token") {
		t.Errorf("sync status shows the access token:\n%s", human.Stdout)
	}
	if res := e.Run("sync", "stop"); res.Code != 0 {
		t.Fatalf("sync stop: %d %s", res.Code, res.Stderr)
	}
	if after := e.Run("sync", "status", "--json"); after.Code != 1 || !strings.Contains(after.Stdout, `"healthy": false`) {
		t.Fatalf("status --json after stop: exit %d\n%s", after.Code, after.Stdout)
	}
}

// TestOps_StatusUnreadableAsAnotherUser: a runtime root, or a state file, the
// caller cannot read is reported with its path and the error, exit 1 —
// never as "not running".
func TestOps_StatusUnreadableAsAnotherUser(t *testing.T) {
	testenv.RequireRoot(t)
	shared, err := os.MkdirTemp("", "spec-kitty-ops-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(shared, "spec-kitty")
	copyBinary(t, testenv.Bin(), bin)
	closedRoot := filepath.Join(shared, "closed")
	openRoot := filepath.Join(shared, "open")
	// Both roots belong to uid 65534 and pass the trust check (SPEC §3): what
	// it cannot do is read them. The closed root has mode 000; the open one
	// holds a state file of root's, mode 0600.
	for _, dir := range []string{closedRoot, openRoot} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(openRoot, "sync-daemon")
	if err := statefile.Write(state, statefile.Record{URL: "http://127.0.0.1:9400", Port: 9400, Token: "t", PID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{closedRoot, openRoot} {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(closedRoot, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ root, want string }{
		{closedRoot, "cannot read the runtime root " + closedRoot + ": permission denied"},
		{openRoot, "cannot read the state file " + state + ": permission denied"},
	} {
		for _, asJSON := range []bool{false, true} {
			args := []string{"sync", "status"}
			if asJSON {
				args = append(args, "--json")
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "SPEC_KITTY_HOME="+tc.root, "HOME="+shared)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Errorf("%v as uid 65534 on %s: %v, want exit 1\n%s", args, tc.root, err, out)
			}
			if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "not running") {
				t.Errorf("%v as uid 65534: want %q and no \"not running\":\n%s", args, tc.want, out)
			}
		}
	}
}

// TestOps_StopRefusesWhatItMustNotStop: a state file naming pid 1, a port
// outside the sync range or another user's daemon is refused with what it
// names and what to do, and left in place.
func TestOps_StopRefusesWhatItMustNotStop(t *testing.T) {
	e := testenv.New(t)
	state := e.Path("sync-daemon")
	cases := []struct {
		name string
		rec  statefile.Record
		want string
	}{
		{"pid 1", statefile.Record{URL: "http://127.0.0.1:9400", Port: 9400, Token: "t", PID: 1}, "pid 1, which is never a sync daemon"},
		{"port outside the range", statefile.Record{URL: "http://127.0.0.1:8080", Port: 8080, Token: "t", PID: os.Getpid()}, "port 8080, outside the sync range 9400-9449"},
	}
	// Another user's daemon needs root to start; CI runs as root, so there
	// the case always runs (testenv.RequireRoot's rule).
	if os.Getuid() == 0 {
		port := testenv.FreePorts(t, api.SyncRange, 1)[0]
		theirs, _ := e.SpawnDaemonAs(port, 65534, 65534)
		cases = append(cases, struct {
			name string
			rec  statefile.Record
			want string
		}{"another user's daemon", statefile.Record{URL: "http://127.0.0.1:" + itoa(port), Port: port, Token: theirs.Token, PID: theirs.PID},
			"pid " + itoa(theirs.PID) + ", a process of another user (uid 65534)"})
		defer func() {
			if !theirs.Alive() {
				t.Errorf("sync stop stopped another user's daemon pid %d", theirs.PID)
			}
		}()
	} else if os.Getenv("CI") == "true" {
		t.Fatal("the another-user case needs root, which CI has")
	}
	for _, tc := range cases {
		if err := statefile.Write(state, tc.rec); err != nil {
			t.Fatal(err)
		}
		res := e.Run("sync", "stop")
		if res.Code != 1 || !strings.Contains(res.Stderr, tc.want) || !strings.Contains(res.Stderr, "remove "+state) ||
			strings.Contains(res.Stderr, "--reset --force") {
			t.Errorf("%s: sync stop exit %d, stderr %q; want 1, %q and the state file to remove", tc.name, res.Code, res.Stderr, tc.want)
		}
		if _, err := os.Stat(state); err != nil {
			t.Errorf("%s: state file gone after a refused stop: %v", tc.name, err)
		}
	}
}

func copyBinary(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestCI_ToolsInstalled: under CI=true every program a test needs is on
// PATH (.ci/run installs them), so no test can pass a CI run by skipping.
func TestCI_ToolsInstalled(t *testing.T) {
	if os.Getenv("CI") != "true" {
		t.Skip("outside CI a missing program skips only the tests that need it")
	}
	for _, tool := range []string{"chromium", "jq", "lsof", "ps"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Errorf("%s is not installed: .ci/run must install it (README, Test)", tool)
		}
	}
}

// TestOps_CrashIsLoggedAsJSON: a daemon that dies with a Go runtime crash
// dump (SIGQUIT) appends nothing raw to its log; the dump waits in the crash
// file, `sync logs` shows it, and the next daemon moves it into the log as
// one JSON line.
func TestOps_CrashIsLoggedAsJSON(t *testing.T) {
	e := testenv.New(t)
	start(t, e)
	pid := recorded(t, e).PID
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	if !testenv.WaitExited(pid, 10*time.Second) {
		t.Fatalf("daemon pid %d did not die of SIGQUIT", pid)
	}
	log := e.Path("sync-daemon.log")
	requireJSONLines(t, log)
	if dump, _ := os.ReadFile(log + ".crash"); !strings.Contains(string(dump), "SIGQUIT: quit") {
		t.Fatalf("crash file holds %q, want the runtime's SIGQUIT dump", dump)
	}
	if res := e.Run("sync", "logs", "-n", "0"); !strings.Contains(res.Stdout, `"msg":"an earlier process crashed"`) {
		t.Errorf("sync logs does not show the crash:\n%s", res.Stdout)
	}
	start(t, e)
	var found bool
	for _, rec := range requireJSONLines(t, log) {
		if out, _ := rec["output"].(string); rec["msg"] == "an earlier process crashed" && strings.Contains(out, "SIGQUIT: quit") {
			found = true
		}
	}
	if !found {
		t.Errorf("the next daemon did not log the crash as a JSON line")
	}
}

// requireJSONLines fails the test unless every line of the file is a JSON
// object, and returns them.
func requireJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s line %d is not a JSON object: %q", path, i+1, line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestOps_DashboardLogRotates: the dashboard's .kittify/dashboard.log is
// size-bounded like the sync log: a 6 MiB log is rotated to .1 when the
// dashboard starts, and the new log holds only JSON lines.
func TestOps_DashboardLogRotates(t *testing.T) {
	e := testenv.New(t)
	project := e.NewProject()
	log := filepath.Join(project, ".kittify", "dashboard.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o700); err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat(`{"msg":"filler"}`+"\n", 6<<20/17+1)
	if err := os.WriteFile(log, []byte(filler), 0o600); err != nil {
		t.Fatal(err)
	}
	dash := dashStart(t, e, project)
	if res := e.Run("dashboard", "--project", project, "--stop"); res.Code != 0 {
		t.Fatalf("dashboard --stop: %d %s", res.Code, res.Stderr)
	}
	if fi, err := os.Stat(log + ".1"); err != nil || fi.Size() != int64(len(filler)) {
		t.Fatalf("dashboard.log.1: %v, want the %d-byte pre-filled log", err, len(filler))
	}
	var started bool
	for _, rec := range requireJSONLines(t, log) {
		if rec["msg"] == "dashboard started" && int(rec["pid"].(float64)) == dash.PID {
			started = true
		}
	}
	if !started {
		t.Errorf("dashboard.log has no start line of pid %d", dash.PID)
	}
}
