//go:build !windows

package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestUntrustedSessionFilesAreRefused(t *testing.T) {
	useFixtureKey(t, 1<<10)
	cases := map[string]func(t *testing.T, path string){
		"group readable": func(t *testing.T, path string) {
			if err := os.Chmod(path, 0o640); err != nil {
				t.Fatal(err)
			}
		},
		"symlink": func(t *testing.T, path string) {
			real := path + ".real"
			if err := os.Rename(path, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, path); err != nil {
				t.Fatal(err)
			}
		},
		"fifo": func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			path := installFixture(t, "python-n1024")
			damage(t, path)
			s, err := Load(path)
			if s != nil || !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load = %v, %v; want ErrUntrusted naming %s", s, err, path)
			}
		})
	}
}

func TestUntrustedAuthDirIsRefused(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := installFixture(t, "python-n1024")
	dir := filepath.Dir(path)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if _, err := Load(path); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Load from a world-writable auth dir = %v", err)
	}
	st := &Stored{}
	if err := Save(path, st); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Save into a world-writable auth dir = %v", err)
	}
	if _, err := Remove(path); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Remove in a world-writable auth dir = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the session was touched: %v", err)
	}
}
