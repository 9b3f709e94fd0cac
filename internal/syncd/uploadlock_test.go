package syncd

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestUploadLock_OneHolderThenHandedOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sync-daemon-upload.lock")
	a := newUploadLock(path, slog.New(slog.DiscardHandler))
	b := newUploadLock(path, slog.New(slog.DiscardHandler))
	if !a.Hold() {
		t.Fatal("the first daemon could not take a free lock")
	}
	if !a.Hold() {
		t.Fatal("the holder lost the lock by asking again")
	}
	if b.Hold() {
		t.Fatal("a second daemon took a held lock")
	}
	a.Release()
	if !b.Hold() {
		t.Fatal("the lock was not handed on after its holder let go")
	}
	if a.Hold() {
		t.Fatal("the old holder took the lock back from the new one")
	}
	b.Release()
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("lock file: %v, mode %v; want 0600", err, fi.Mode().Perm())
		}
	}
}
