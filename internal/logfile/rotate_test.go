package logfile

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

// TestWriter_KeepsTwoNumberedBackups: past three rotations only the log,
// .1 and .2 remain, newest first, each under the limit and of whole lines.
func TestWriter_KeepsTwoNumberedBackups(t *testing.T) {
	path := filepath.Join(testtmp.Dir(t), "sync-daemon.log")
	w := Open(path)
	defer w.Close()
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for gen := range 4 {
		marker := []byte{byte('a' + gen)}
		for range MaxBytes / len(line) {
			if _, err := w.Write(append(marker, line[1:]...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, gen := range map[string]byte{path: 'd', Backup(path, 1): 'c', Backup(path, 2): 'b'} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > MaxBytes || len(data)%len(line) != 0 || data[0] != gen || bytes.Count(data, []byte{gen}) != len(data)/len(line) {
			t.Errorf("%s: %d bytes starting %q, want whole lines of generation %q", filepath.Base(name), len(data), data[:1], gen)
		}
	}
	if _, err := os.Stat(Backup(path, 3)); !os.IsNotExist(err) {
		t.Errorf("a third backup exists: %v", err)
	}
	// Windows keeps no Unix mode bits (Go reports 0666); trust there is the ACL.
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestTail_ReachesIntoBackups: Tail takes the older lines from .1 when the
// current file is short.
func TestTail_ReachesIntoBackups(t *testing.T) {
	path := filepath.Join(testtmp.Dir(t), "x.log")
	if err := os.WriteFile(Backup(path, 1), []byte("1\n2\n3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("4\n5"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Tail(path, 4)
	if err != nil || strings.Join(got, ",") != "2,3,4,5" {
		t.Fatalf("Tail = %v, %v; want 2,3,4,5", got, err)
	}
}
