package logfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

// TestWriter_FailedRotationLoggedOnceAndReported: a rename that fails (as
// on Windows while another process holds the log) is written to the log
// once, not on every write, is kept for RotationError (which `sync status`
// shows), loses no line, and is retried after retryRotation; the retry that
// succeeds rotates and clears the error.
func TestWriter_FailedRotationLoggedOnceAndReported(t *testing.T) {
	path := filepath.Join(testtmp.Dir(t), "sync-daemon.log")
	pad := bytes.Repeat([]byte("p"), MaxBytes-10)
	if err := os.WriteFile(path, pad, 0o600); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	w := Open(path)
	defer w.Close()
	w.now = func() time.Time { return clock }
	denied := errors.New("access is denied")
	renames := 0
	w.rename = func(oldpath, newpath string) error {
		renames++
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: denied}
	}
	if got := w.RotationError(); got != "" {
		t.Fatalf("RotationError before any rotation = %q", got)
	}

	for i := range 5 {
		if _, err := w.Write([]byte("line " + string(rune('a'+i)) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(data, []byte("log rotation failed")); n != 1 {
		t.Errorf("the log records the failure %d times, want once", n)
	}
	for _, l := range []string{"line a", "line e"} {
		if !bytes.Contains(data, []byte(l)) {
			t.Errorf("%q lost after a failed rotation", l)
		}
	}
	if got := w.RotationError(); !strings.Contains(got, "access is denied") {
		t.Errorf("RotationError = %q, want the rename error", got)
	}
	if renames != 1 {
		t.Errorf("%d rename attempts within the retry interval, want 1", renames)
	}
	if _, err := os.Stat(Backup(path, 1)); !os.IsNotExist(err) {
		t.Errorf("a backup exists although every rename failed: %v", err)
	}

	// The cause goes away; the next write after the retry interval rotates.
	w.rename = os.Rename
	clock = clock.Add(retryRotation)
	if _, err := w.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	if got := w.RotationError(); got != "" {
		t.Errorf("RotationError after a successful rotation = %q, want empty", got)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "after\n" {
		t.Errorf("fresh log = %q, %v; want only the new line", data, err)
	}
	if old, err := os.ReadFile(Backup(path, 1)); err != nil || !bytes.Contains(old, []byte("line e")) {
		t.Errorf(".1 does not hold the unrotated lines: %v", err)
	}
}
