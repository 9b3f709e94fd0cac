package statefile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRoundTripIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sync-daemon")
	want := Record{URL: "http://127.0.0.1:9400", Port: 9400, Token: "abc", PID: 42}
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil || got != want {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, want)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"truncated", "http://127.0.0.1:9400\n9400\n"},
		{"port not a number", "http://127.0.0.1:9400\nnine\ntok\n1\n"},
		{"pid not a number", "http://127.0.0.1:9400\n9400\ntok\npid\n"},
		{"not a url", "garbage\n9400\ntok\n1\n"},
		{"empty token", "http://127.0.0.1:9400\n9400\n\n1\n"},
		{"binary", "\x00\x01\x02\x03"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sync-daemon")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Read(path); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Read(%q) = %v, want ErrMalformed", tc.data, err)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	if _, err := Read(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want ErrNotExist, got %v", err)
	}
}
