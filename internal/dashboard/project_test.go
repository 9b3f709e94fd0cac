package dashboard

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gofrs/flock"

	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

func TestArgv(t *testing.T) {
	got := Argv(9237, "/p")
	want := []string{"__dashboard-daemon", "--port=9237", "--project=/p"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Argv = %q, want %q", got, want)
	}
}

func TestResolveProject(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if got, err := ResolveProject(link); err != nil || got != dir {
		t.Fatalf("ResolveProject(symlink) = %q, %v; want %q", got, err, dir)
	}
	file := filepath.Join(dir, "f")
	_ = os.WriteFile(file, nil, 0o600)
	for _, bad := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := ResolveProject(bad); err == nil {
			t.Errorf("ResolveProject(%s) succeeded", bad)
		}
	}
}

func TestLookupProject(t *testing.T) {
	root := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(p, MetaDir), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	recorded := mk("recorded")
	if err := statefile.Write(StateFile(recorded), statefile.Record{URL: "http://127.0.0.1:9237", Port: 9237, Token: "t", PID: 42}); err != nil {
		t.Fatal(err)
	}
	garbled := mk("garbled")
	_ = os.WriteFile(StateFile(garbled), []byte("not a record"), 0o600)
	plain := mk("plain")
	file := filepath.Join(root, "file")
	_ = os.WriteFile(file, nil, 0o600)

	if p := LookupProject(filepath.Join(root, "gone")); !p.Gone {
		t.Errorf("missing directory: %+v, want gone", p)
	}
	if p := LookupProject(file); !p.Gone {
		t.Errorf("a file where the project was: %+v, want gone", p)
	}
	if p := LookupProject(recorded); p.Record == nil || p.Record.PID != 42 || p.Record.Port != 9237 || p.Gone || p.Err != nil {
		t.Errorf("recorded: %+v", p)
	}
	for _, dir := range []string{garbled, plain} {
		if p := LookupProject(dir); p.Record != nil || p.Gone || p.Err != nil {
			t.Errorf("%s: %+v, want a project recording nothing", dir, p)
		}
	}
}

func TestLockProject(t *testing.T) {
	project := t.TempDir()
	// No lock file: nothing to wait for, and none is created.
	unlock, err := lockProject(t.Context(), project)
	if err != nil {
		t.Fatalf("project without lock file: %v", err)
	}
	unlock()
	if _, err := os.Stat(LockFile(project)); !os.IsNotExist(err) {
		t.Fatalf("lockProject created %s: %v", LockFile(project), err)
	}
	// A held lock is busy.
	_ = os.MkdirAll(filepath.Join(project, MetaDir), 0o700)
	held := flock.New(LockFile(project))
	if err := held.Lock(); err != nil {
		t.Fatal(err)
	}
	if _, err := lockProject(t.Context(), project); err == nil {
		t.Fatal("took a lock another holder has")
	}
	_ = held.Unlock()
	unlock, err = lockProject(t.Context(), project)
	if err != nil {
		t.Fatalf("free lock: %v", err)
	}
	unlock()
}
