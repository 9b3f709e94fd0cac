//go:build unix

package probe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangTimeout is the bound the tests give a fake lsof that never answers:
// short, so those tests are quick. Every other test uses testLsof, whose
// bound a fake that does answer meets even on a loaded machine.
const hangTimeout = 300 * time.Millisecond

// fakeLsof writes a shell script named lsof into a fresh directory, puts
// that directory first on PATH for the test, and returns the directory.
func fakeLsof(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	writeScript(t, filepath.Join(dir, "lsof"), body)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// testLsof is the lsof source without a fallback, for fakes that answer;
// hangingLsof is the same with the short bound, for fakes that never do.
var (
	testLsof    = lsofSource{timeout: 30 * time.Second}
	hangingLsof = lsofSource{timeout: hangTimeout}
)

var ports9400 = []int{9400, 9401, 9449}

// TestLsofSource_Outcomes runs a fake lsof for every way lsof can end and
// checks what the source makes of it: a listing, "nothing listens", or a
// failure that names what went wrong.
func TestLsofSource_Outcomes(t *testing.T) {
	cases := []struct {
		name    string
		script  string
		want    []pidListener
		wantErr string // substring; "" means no error
	}{
		{
			name:   "listing, exit 0",
			script: `printf 'p501\ncspec-kitty\nf5\nn127.0.0.1:9401\n'`,
			want:   []pidListener{{501, "127.0.0.1", 9401}},
		},
		{
			name:   "nothing matched: exit 1, no output, nothing on stderr",
			script: `exit 1`,
		},
		{
			name:   "complete listing with exit 1 (a process lsof could not inspect)",
			script: `printf 'p501\ncspec-kitty\nf5\nn127.0.0.1:9401\n'; exit 1`,
			want:   []pidListener{{501, "127.0.0.1", 9401}},
		},
		{
			name:    "usage error: exit 1 with a complaint and no listing",
			script:  `echo 'lsof: unknown TCP state name: LISTEN' >&2; echo 'lsof 4.91' >&2; exit 1`,
			wantErr: "exit status 1: lsof: unknown TCP state name: LISTEN",
		},
		{
			name:    "error: exit 2 with stderr",
			script:  `echo 'lsof: illegal option character: b' >&2; exit 2`,
			wantErr: "exit status 2: lsof: illegal option character: b",
		},
		{
			name:    "error: exit 2 after a listing",
			script:  `printf 'p501\nn127.0.0.1:9401\n'; echo 'lsof: no kernel access' >&2; exit 2`,
			wantErr: "exit status 2: lsof: no kernel access",
		},
		{
			name:    "killed mid-output by a signal",
			script:  `printf 'p50'; kill -9 $$`,
			wantErr: "signal: killed",
		},
		{
			name:    "truncated record: output ends inside a line",
			script:  `printf 'p501\ncspec-kitty\nf5\nn127.0.0.1:94'`,
			wantErr: "ends inside a record",
		},
		{
			name:    "output past the cap",
			script:  `yes 'n127.0.0.1:9401' | head -c 1100000`,
			wantErr: "output over",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fakeLsof(t, tc.script)
			got, err := testLsof.list(context.Background(), ports9400)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("list: %v; want %v", err, tc.want)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("list = %d listeners, %v; want an error containing %q", len(got), err, tc.wantErr)
			case tc.wantErr != "" && got != nil:
				t.Fatalf("list returned %d listeners with its error", len(got))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("list = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLsofSource_Args: the fake records its arguments; they are SPEC §8's,
// over the span of the ports asked about.
func TestLsofSource_Args(t *testing.T) {
	dir := fakeLsof(t, `echo "$@" > "$(dirname "$0")/args"; exit 1`)
	if _, err := testLsof.list(context.Background(), []int{9449, 9400, 9420}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "-nP -b -w -iTCP:9400-9449 -sTCP:LISTEN -F pcn\n"; string(got) != want {
		t.Errorf("lsof ran with %q, want %q", got, want)
	}
}

// TestLsofSource_Timeout: an lsof that never answers is a failure naming
// the timeout, not an empty listing; what it printed before is dropped.
func TestLsofSource_Timeout(t *testing.T) {
	fakeLsof(t, `printf 'p501\nn127.0.0.1:9401\n'; exec sleep 30`)
	got, err := hangingLsof.list(context.Background(), ports9400)
	if !errors.Is(err, context.DeadlineExceeded) || got != nil {
		t.Fatalf("list = %v, %v; want no listing and a deadline error", got, err)
	}
	if !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("error %q does not say lsof did not answer", err)
	}
}

// TestLsofSource_TimeoutWithChildHoldingOutput: lsof forks helpers; one
// that outlives a killed lsof still holds its stdout. WaitDelay closes the
// pipe instead of waiting for that child, and the result is a failure.
func TestLsofSource_TimeoutWithChildHoldingOutput(t *testing.T) {
	dir := fakeLsof(t, `sleep 30 & echo $! > "$(dirname "$0")/child"; printf 'p501\n'; wait`)
	t.Cleanup(func() { killRecordedChild(t, filepath.Join(dir, "child")) })
	got, err := hangingLsof.list(context.Background(), ports9400)
	if !errors.Is(err, context.DeadlineExceeded) || got != nil {
		t.Fatalf("list = %v, %v; want no listing and a deadline error", got, err)
	}
}

// killRecordedChild kills, by the pid the fake recorded, the child it left
// behind.
func killRecordedChild(t *testing.T, pidFile string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Errorf("the fake did not record its child: %v", err)
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		t.Errorf("bad child pid %q", data)
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// TestLsofSource_Missing: no lsof on PATH and no fallback is a failure; the
// fallback path (/usr/sbin/lsof on macOS) is used when PATH has none.
func TestLsofSource_Missing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if got, err := testLsof.list(context.Background(), ports9400); err == nil || !strings.Contains(err.Error(), "finding lsof") {
		t.Errorf("list = %v, %v; want a failure to find lsof", got, err)
	}

	missing := lsofSource{fallback: filepath.Join(t.TempDir(), "lsof"), timeout: testLsof.timeout}
	if got, err := missing.list(context.Background(), ports9400); err == nil {
		t.Errorf("list with an absent fallback = %v, want an error", got)
	}

	fallback := filepath.Join(t.TempDir(), "lsof")
	writeScript(t, fallback, `printf 'p777\nn*:9449\n'`)
	withFallback := lsofSource{fallback: fallback, timeout: testLsof.timeout}
	got, err := withFallback.list(context.Background(), ports9400)
	if err != nil || !reflect.DeepEqual(got, []pidListener{{777, "*", 9449}}) {
		t.Errorf("list through the fallback = %v, %v", got, err)
	}
}

// TestLsofSource_FailureIsASourceFailure: through the finder the scan
// uses, a failed lsof names no owner and reports the none source with a
// note (doctor's listener_source_fallback), while lsof's "nothing matched"
// is the lsof source answering.
func TestLsofSource_FailureIsASourceFailure(t *testing.T) {
	failures := map[string]string{
		"error":   `echo 'lsof: boom' >&2; exit 2`,
		"timeout": `exec sleep 30`,
		"partial": `printf 'p50'; kill -9 $$`,
		"missing": "",
	}
	for name, script := range failures {
		t.Run(name, func(t *testing.T) {
			if script == "" {
				t.Setenv("PATH", t.TempDir())
			} else {
				fakeLsof(t, script)
			}
			src := testLsof
			if name == "timeout" {
				src = hangingLsof
			}
			f := newPIDFinder(SourceLsof, ports9400, src.list)
			for port, o := range f.rest(context.Background(), ports9400) {
				if o.info.PID != 0 || o.uid != -1 {
					t.Errorf("port %d owner = %+v, want unknown", port, o)
				}
			}
			r := f.report()
			if r.Name != SourceNone || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "lsof") {
				t.Errorf("report = %+v, want none with a note naming lsof", r)
			}
		})
	}
	t.Run("nothing matched", func(t *testing.T) {
		fakeLsof(t, `exit 1`)
		f := newPIDFinder(SourceLsof, ports9400, testLsof.list)
		f.rest(context.Background(), ports9400)
		if r := f.report(); r.Name != SourceLsof || len(r.Notes) != 0 {
			t.Errorf("report = %+v, want lsof without notes", r)
		}
	})
}
