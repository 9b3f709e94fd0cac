//go:build linux

package live

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// TestSyncLogs_FIFOAndSymlinkAreRefused: `sync logs` opens the daemon log
// and its rotated files like every other file of the runtime root — a FIFO
// is an error, never a hang, and a symlink is never read through (SPEC §3).
func TestSyncLogs_FIFOAndSymlinkAreRefused(t *testing.T) {
	for _, name := range []string{"sync-daemon.log", "sync-daemon.log.1"} {
		t.Run("fifo "+name, func(t *testing.T) {
			e := testenv.New(t)
			if name != "sync-daemon.log" {
				if err := os.WriteFile(e.Path("sync-daemon.log"), []byte("{\"msg\":\"current\"}\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := syscall.Mkfifo(e.Path(name), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"sync", "logs"}, {"sync", "logs", "-n", "5"}} {
				res := runIn(t, e, "", args...)
				if res.Code != 1 || !strings.Contains(res.Stderr, "not a regular file") {
					t.Errorf("%v with a FIFO at %s: exit %d, stderr %q; want exit 1 naming it not a regular file", args, name, res.Code, res.Stderr)
				}
			}
		})
	}

	t.Run("symlink", func(t *testing.T) {
		e := testenv.New(t)
		plantLink(t, e, "sync-daemon.log", "not a log line\n")
		res := runIn(t, e, "", "sync", "logs")
		if res.Code != 1 || strings.Contains(res.Stdout, "not a log line") || !strings.Contains(res.Stderr, "not a regular file") {
			t.Errorf("sync logs through a symlink: exit %d, stdout %q, stderr %q; want exit 1 and nothing read", res.Code, res.Stdout, res.Stderr)
		}
	})
}

// TestDaemon_SymlinkedCrashFileIsNotFollowed: the daemon's crash file
// (sync-daemon.log.crash) is a file of the runtime root too: a symlink
// there is neither read into the log nor truncated (SPEC §3).
func TestDaemon_SymlinkedCrashFileIsNotFollowed(t *testing.T) {
	e := testenv.New(t)
	target := plantLink(t, e, "sync-daemon.log.crash", "# rc\n")
	if res := runIn(t, e, "", "sync", "start", "--json"); res.Code != 0 {
		t.Fatalf("sync start: exit %d, stderr %s", res.Code, res.Stderr)
	}
	if data, _ := os.ReadFile(target); string(data) != "# rc\n" {
		t.Errorf("the crash file's symlink target was changed: %q", data)
	}
	if logs := runIn(t, e, "", "sync", "logs"); strings.Contains(logs.Stdout, "# rc") {
		t.Errorf("the crash file's symlink target was copied into the log:\n%s", logs.Stdout)
	}
	runIn(t, e, "", "sync", "stop")
}

// TestDaemon_StartedByHandRefusesASymlinkedLog: the spawner refuses a
// symlinked sync-daemon.log (TestTrust_SymlinkedLogIsNotFollowed); a daemon
// started any other way must refuse it too, and never write through it
// (SPEC §3).
func TestDaemon_StartedByHandRefusesASymlinkedLog(t *testing.T) {
	e := testenv.New(t)
	target := plantLink(t, e, "sync-daemon.log", "# rc\n")
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	res := runIn(t, e, "", "__sync-daemon", "--port="+strconv.Itoa(port), "--spec-kitty-daemon-root="+e.Home)
	if res.Code == 0 || !strings.Contains(res.Stderr, "not a regular file") {
		t.Errorf("daemon with a symlinked log: exit %d, stderr %q; want a refusal naming it not a regular file", res.Code, res.Stderr)
	}
	if data, _ := os.ReadFile(target); string(data) != "# rc\n" {
		t.Errorf("the log's symlink target was written: %q", data)
	}
}

// plantLink makes the runtime root's file name a symlink to a fresh file
// outside the root holding content, and returns that file's path.
func plantLink(t *testing.T, e *testenv.Env, name, content string) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, e.Path(name)); err != nil {
		t.Fatal(err)
	}
	return target
}
