//go:build !windows

package syncd

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestUploadLock_RefusesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sync-daemon-upload.lock")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if newUploadLock(path, slog.New(slog.DiscardHandler)).Hold() {
		t.Fatal("took the upload lock through a symlink")
	}
}
