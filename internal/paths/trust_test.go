//go:build unix

package paths

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCheckTrusted: a root or written subfolder that group or others can
// write is refused with the path and the fix; a 0700 root is trusted.
func TestCheckTrusted(t *testing.T) {
	root := t.TempDir()
	l := Layout{Root: root}
	if err := l.CheckTrusted(); err != nil {
		t.Fatalf("0700 root refused: %v", err)
	}
	for _, dir := range []string{root, filepath.Join(root, "auth")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o775); err != nil {
			t.Fatal(err)
		}
		var u *UntrustedError
		err := l.CheckTrusted()
		if !errors.As(err, &u) || u.Path != dir || !strings.Contains(err.Error(), "chmod 700 "+dir) {
			t.Errorf("group-writable %s: err = %v, want an UntrustedError naming it and the fix", dir, err)
		}
		_ = os.Chmod(dir, 0o700)
	}
	link := filepath.Join(root, "daemons")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	var u *UntrustedError
	if err := l.CheckTrusted(); !errors.As(err, &u) || u.Path != link {
		t.Errorf("symlinked subfolder: err = %v, want it refused", err)
	}
}

// TestOpenFile_RegularFilesOnly: a symlink is not followed and a FIFO
// neither blocks nor is accepted; a regular file opens.
func TestOpenFile_RegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	if err := os.WriteFile(reg, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(reg); err != nil {
		t.Errorf("regular file: %v", err)
	} else {
		f.Close()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range []string{link, fifo} {
			for _, flag := range []int{os.O_RDONLY, os.O_WRONLY | os.O_APPEND | os.O_CREATE} {
				if f, err := OpenFile(p, flag, 0o600); err == nil {
					f.Close()
					t.Errorf("OpenFile(%s, %#x) accepted a non-regular file", p, flag)
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // a guard against the hang, not a speed check
		t.Fatal("opening a FIFO blocked")
	}
	if data, _ := os.ReadFile(reg); string(data) != "x" {
		t.Errorf("the symlink's target was changed: %q", data)
	}
}

// TestOpenPrivate: a secret is used only when it is the user's and 0600.
func TestOpenPrivate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "session.json")
	if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenPrivate(p); err == nil {
		f.Close()
		t.Error("a 0644 secret was opened")
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenPrivate(p)
	if err != nil {
		t.Fatalf("a 0600 secret was refused: %v", err)
	}
	f.Close()
}
