package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
)

// The tests of issue 18's rows that are pure formatting or need no daemon.

// runHome executes a command line in-process in the runtime root home.
func runHome(t *testing.T, home string, ios *IOStreams, args ...string) int {
	t.Helper()
	t.Setenv("SPEC_KITTY_HOME", home)
	return Run(context.Background(), args, ios)
}

func buffers() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestSyncLogs_NIsANumber: `-n abc` is a usage error worded for a person,
// not strconv's message.
func TestSyncLogs_NIsANumber(t *testing.T) {
	code, stdout, stderr := run(t, "sync", "logs", "-n", "abc")
	if code != ExitUsage || stdout != "" || !strings.Contains(stderr, `-n must be a number, got "abc"`) || strings.Contains(stderr, "strconv") {
		t.Fatalf("exit %d, stderr %q; want 2 and \"-n must be a number\"", code, stderr)
	}
}

// TestSyncStop_JSONWhenNothingRuns: sync stop has --json like start and
// status; with no daemon it says so in the api.StopResult shape.
func TestSyncStop_JSONWhenNothingRuns(t *testing.T) {
	code, stdout, stderr := run(t, "sync", "stop", "--json")
	var res map[string]any
	if code != ExitOK || json.Unmarshal([]byte(stdout), &res) != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if res["stopped"] != false || res["pid"] != nil || res["port"] != nil {
		t.Errorf("sync stop --json with nothing recorded: %s", stdout)
	}
	if notes, _ := res["notes"].([]any); len(notes) != 1 {
		t.Errorf("want one note saying no daemon is recorded: %s", stdout)
	}
}

// TestSyncStatus_NotRunningHasNext: no daemon is exit 1 and a next: line;
// with SPEC_KITTY_SYNC_DISABLE=1 it also says implicit start is off.
func TestSyncStatus_NotRunningHasNext(t *testing.T) {
	t.Setenv("SPEC_KITTY_SYNC_DISABLE", "")
	code, stdout, _ := run(t, "sync", "status")
	if code != ExitError || !strings.HasSuffix(stdout, "next: spec-kitty sync start\n") || strings.Contains(stdout, "SPEC_KITTY_SYNC_DISABLE") {
		t.Errorf("not running: exit %d, stdout:\n%s", code, stdout)
	}
	t.Setenv("SPEC_KITTY_SYNC_DISABLE", "1")
	code, stdout, _ = run(t, "sync", "status")
	if code != ExitError || !strings.Contains(stdout, "implicit start is off: SPEC_KITTY_SYNC_DISABLE=1 is set\n") ||
		!strings.Contains(stdout, "next: unset SPEC_KITTY_SYNC_DISABLE, then run spec-kitty sync start\n") {
		t.Errorf("not running, sync disabled: exit %d, stdout:\n%s", code, stdout)
	}
}

// TestSyncStatus_MalformedStateFileNote: the note names the file and the
// command that replaces it.
func TestSyncStatus_MalformedStateFileNote(t *testing.T) {
	home := t.TempDir()
	t.Setenv("SPEC_KITTY_HOME", home)
	l, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(l.StateFile()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.StateFile(), []byte("http://127.0.0.1:9400\n9400\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ios, _, errOut := buffers()
	code := runHome(t, home, ios, "sync", "status")
	want := "note: unusable state file " + l.StateFile() + ": "
	if code != ExitError || !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "; spec-kitty sync start replaces it\n") {
		t.Errorf("exit %d, stderr %q; want a note naming %s and spec-kitty sync start", code, errOut.String(), l.StateFile())
	}
}

// TestAuthLogin_UnreachableServerHint: a server nobody listens on is a hint
// to check --server, not Go's dial error.
func TestAuthLogin_UnreachableServerHint(t *testing.T) {
	t.Setenv("SPEC_KITTY_HOME", t.TempDir())
	ios, _, errOut := buffers()
	ios.In = strings.NewReader("tok\n")
	code := Run(context.Background(), []string{"auth", "login", "--with-token", "--server", "http://127.0.0.1:1"}, ios)
	got := errOut.String()
	if code != ExitError || !strings.Contains(got, "cannot reach http://127.0.0.1:1 (connection refused); check the --server URL and that the server is up") ||
		strings.Contains(got, "dial tcp") || strings.Count(got, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, got)
	}
}

// TestSyncPublish_FreshDirectoryShowsTheConfigShape: the error and the
// help show what .kittify/config.yaml holds.
func TestSyncPublish_FreshDirectoryShowsTheConfigShape(t *testing.T) {
	code, _, stderr := run(t, "sync", "publish", "--project", t.TempDir(), "--type", "ErrorLogged", "--aggregate-id", "a", "--aggregate-type", "Mission")
	if code != ExitError || !strings.Contains(stderr, "'project:' section with at least 'uuid: <UUID>'") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	_, help, _ := run(t, "sync", "publish", "--help")
	if !strings.Contains(help, "\n  project:\n    uuid: 6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b") || !strings.Contains(help, "    slug: ") {
		t.Errorf("sync publish --help does not show the config shape:\n%s", help)
	}
}

// TestSyncPublish_UnknownTypeListsValidOnes: an unknown --type lists the
// valid types; --type completes them.
func TestSyncPublish_UnknownTypeListsValidOnes(t *testing.T) {
	project := t.TempDir()
	if err := os.MkdirAll(filepath.Join(project, ".kittify"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "project:\n  uuid: 6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b\n"
	if err := os.WriteFile(filepath.Join(project, ".kittify", "config.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "sync", "publish", "--project", project, "--type", "Bogus", "--aggregate-id", "a", "--aggregate-type", "Mission")
	if code != ExitError || !strings.Contains(stderr, `unknown event type "Bogus"; valid types: BuildHeartbeat, `) || !strings.Contains(stderr, ", WPStatusChanged, ") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	_, stdout, _ := run(t, "__complete", "sync", "publish", "--type", "WP")
	if stdout != "WPAssigned\nWPCreated\nWPStatusChanged\n:4\n" {
		t.Errorf("__complete sync publish --type WP:\n%s", stdout)
	}
	_, stdout, _ = run(t, "__complete", "sync", "publish", "--aggregate-type", "")
	if !strings.HasPrefix(stdout, "Build\nWorkPackage\nMission\nMissionDossier\n:4") {
		t.Errorf("__complete sync publish --aggregate-type:\n%s", stdout)
	}
}

const jsonLogLine = `{"time":"2026-12-04T10:40:00.123Z","level":"WARN","msg":"upload failed","pid":4321,"err":"dial tcp 127.0.0.1:1: connection refused","retry_in":"2s"}`

// TestHumanLogLine: time level message key=value, values with spaces
// quoted; a line that is not JSON passes unchanged.
func TestHumanLogLine(t *testing.T) {
	got := humanLogLine(jsonLogLine, palette{})
	wantTail := ` WARN upload failed pid=4321 err="dial tcp 127.0.0.1:1: connection refused" retry_in=2s`
	if !strings.HasSuffix(got, wantTail) || !regexp.MustCompile(`^2026-12-0[45] \d\d:\d\d:00\.123 `).MatchString(got) {
		t.Errorf("humanLogLine:\n got %q\nwant <local time>%q", got, wantTail)
	}
	if got := humanLogLine("panic: boom", palette{}); got != "panic: boom" {
		t.Errorf("a raw line became %q", got)
	}
	if got := humanLogLine(jsonLogLine, palette{on: true}); !strings.Contains(got, "\x1b[") || ansi.ReplaceAllString(got, "") != humanLogLine(jsonLogLine, palette{}) {
		t.Errorf("coloured line %q", got)
	}
}

// TestSyncLogs_ReadableOnATerminalRawOtherwise: a terminal gets readable
// lines; a pipe, or --json, the JSON lines as they are.
func TestSyncLogs_ReadableOnATerminalRawOtherwise(t *testing.T) {
	home := t.TempDir()
	t.Setenv("SPEC_KITTY_HOME", home)
	l, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(l.LogFile()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.LogFile(), []byte(jsonLogLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tty  bool
		args []string
		raw  bool
	}{
		{"terminal", true, nil, false},
		{"piped", false, nil, true},
		{"terminal --json", true, []string{"--json"}, true},
	} {
		ios, out, errOut := buffers()
		ios.OutTTY = c.tty
		if code := runHome(t, home, ios, append([]string{"sync", "logs"}, c.args...)...); code != 0 {
			t.Fatalf("%s: exit %d %s", c.name, code, errOut)
		}
		want := humanLogLine(jsonLogLine, palette{}) + "\n"
		if c.raw {
			want = jsonLogLine + "\n"
		}
		if out.String() != want {
			t.Errorf("%s: got %q, want %q", c.name, out.String(), want)
		}
	}
}

// TestSyncLogs_FollowSaysWhatItWaitsFor: -f on a log nobody has written
// yet says so on stderr instead of waiting in silence.
func TestSyncLogs_FollowSaysWhatItWaitsFor(t *testing.T) {
	home := t.TempDir()
	t.Setenv("SPEC_KITTY_HOME", home)
	l, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errOut := &lockedBuffer{}
	ios := &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: errOut}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"sync", "logs", "-f"}, ios) }()
	want := "waiting for " + l.LogFile()
	deadline := time.Now().Add(30 * time.Second) // a bound against a hang, not a speed check
	for !strings.Contains(errOut.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("sync logs -f ended (%d) without %q: %q", code, want, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("sync logs -f said nothing about the missing log: %q", errOut.String())
		}
		waitABit()
	}
	cancel()
	if code := <-done; code != ExitInterrupted {
		t.Errorf("exit %d after the interrupt, want %d", code, ExitInterrupted)
	}
}

// TestPrintReport_ColourOnlyWhereAllowed: on a colour terminal the
// severities and classes are coloured and the columns still line up; with
// colour off (NO_COLOR, a pipe) there is no escape sequence.
func TestPrintReport_ColourOnlyWhereAllowed(t *testing.T) {
	rep := api.DoctorReport{
		AuthRoot: "/r",
		Orphans: []api.IdentityRecord{
			{Port: 9401, CleanupClass: api.ClassSafeAuto, Reason: "stale_version"},
			{Port: 9402, CleanupClass: api.ClassOperatorRequired, Reason: api.SkipCrossRoot},
		},
		OtherListeners: []api.IdentityRecord{{Port: 9403, CleanupClass: api.ClassNeverTouch, Reason: api.SkipThirdParty}},
		Findings: []api.Finding{
			{Severity: "warning", Summary: "w", Remediation: api.Remediation{Command: "c"}},
			{Severity: "error", Summary: "e", Remediation: api.Remediation{Command: "c"}},
		},
	}
	show := func(tty, colour bool) string {
		ios, out, _ := buffers()
		ios.OutTTY, ios.Color = tty, colour
		printReport(ios, rep)
		return out.String()
	}
	plain, coloured := show(true, false), show(true, true)
	if strings.Contains(plain, "\x1b") || strings.Contains(show(false, true), "\x1b") {
		t.Errorf("escape sequences without colour:\n%q", plain)
	}
	for word, sgr := range map[string]string{"error": "31", "warning": "33", "safe_auto": "33", "operator_required": "31", "never_touch": "32"} {
		if !colouredAs(coloured, word, sgr) {
			t.Errorf("coloured report lacks %s in colour %s:\n%q", word, sgr, coloured)
		}
	}
	if ansi.ReplaceAllString(coloured, "") != plain {
		t.Errorf("colour changed the text or the alignment:\n%s\nvs\n%s", coloured, plain)
	}
}

// TestColourWanted_NoColor: any non-empty NO_COLOR, or TERM=dumb, turns
// colour off (no-color.org).
func TestColourWanted_NoColor(t *testing.T) {
	t.Setenv("TERM", "xterm-256color")
	for v, want := range map[string]bool{"": true, "1": false, "0": false, "false": false} {
		t.Setenv("NO_COLOR", v)
		if got := colourWanted(); got != want {
			t.Errorf("NO_COLOR=%q: colour %v, want %v", v, got, want)
		}
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "dumb")
	if colourWanted() {
		t.Error("TERM=dumb: colour wanted")
	}
}

// TestCandidateLine_CrossRootNamesTheRoot: the y/N question names a
// cross_root daemon's root and how to clean it from there, and gives each
// reason the runbook's advice.
func TestCandidateLine_CrossRootNamesTheRoot(t *testing.T) {
	pid, root := 5008, "/home/u/other kitty"
	r := api.IdentityRecord{PID: &pid, Port: 9408, CleanupClass: api.ClassOperatorRequired, Reason: api.SkipCrossRoot, SingletonScopeID: &root}
	want := "  pid 5008 port 9408: cross_root (root /home/u/other kitty); better cleaned from its own scope: SPEC_KITTY_HOME='/home/u/other kitty' spec-kitty auth doctor --reset"
	if got := candidateLine(r); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, reason := range []string{api.SkipPreMarker, api.SkipUnresponsive, api.SkipMissingPID, api.SkipPIDPortMismatch} {
		r.Reason = reason
		got := candidateLine(r)
		// "stopping" is the header printed after the answer: never in the question.
		if !strings.HasPrefix(got, "  pid 5008 port 9408: "+reason+" (") || strings.Count(got, " port ") != 1 || strings.Contains(got, "\n") || strings.Contains(got, "stopping") {
			t.Errorf("%s: %q", reason, got)
		}
	}
}

// TestStartError_QueueNamesCauseAndFix: a queue the daemon could not open
// is one line with the cause and the fix.
func TestStartError_QueueNamesCauseAndFix(t *testing.T) {
	err := startError(&spawn.QueueError{Path: "/r/sync-daemon-queue.db", Cause: "file is not a database (26)"})
	want := "starting sync daemon: the queue /r/sync-daemon-queue.db cannot be opened: file is not a database (26); move it aside (mv /r/sync-daemon-queue.db /r/sync-daemon-queue.db.bad) and run spec-kitty sync start again: nothing is deleted, its events stay in the moved file"
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitABit() { time.Sleep(5 * time.Millisecond) }

// colouredAs reports whether out shows word in the SGR colour code sgr.
func colouredAs(out, word, sgr string) bool {
	return regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?` + sgr + `(?:;[0-9;]*)?m` + regexp.QuoteMeta(word) + `\x1b\[`).MatchString(out)
}

// TestPrintReport_UploadsFailingIsNotHealthy: a running daemon whose
// uploads fail is not printed as "healthy" above the warning (SPEC §10).
func TestPrintReport_UploadsFailingIsNotHealthy(t *testing.T) {
	pid, port, v := 7056, 9400, "3.3.0"
	rep := api.DoctorReport{AuthRoot: "/r", Daemon: api.DoctorDaemon{Active: true, PID: &pid, Port: &port, PackageVersion: &v}}
	show := func() string {
		ios, out, _ := buffers()
		printReport(ios, rep)
		return out.String()
	}
	if got := show(); !strings.Contains(got, "version 3.3.0 (healthy)") {
		t.Errorf("a daemon with working uploads:\n%s", got)
	}
	rep.Findings = []api.Finding{{ID: "uploads_failing", Severity: "warning", Summary: "uploads failing since …", Remediation: api.Remediation{Command: "spec-kitty sync logs"}}}
	if got := show(); strings.Contains(got, "(healthy)") || !strings.Contains(got, "(running, uploads failing)") {
		t.Errorf("a daemon whose uploads fail:\n%s", got)
	}
}
