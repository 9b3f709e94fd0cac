package paths

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

func TestRootHonoursSpecKittyHome(t *testing.T) {
	dir := testtmp.Dir(t)
	t.Setenv(EnvHome, dir)
	if got, err := Root(); err != nil || got != dir {
		t.Fatalf("Root() = %q, %v; want %q", got, err, dir)
	}
	t.Setenv(EnvHome, "")
	want := filepath.Join(dir, ".spec-kitty")
	if runtime.GOOS == "windows" {
		t.Setenv("LOCALAPPDATA", dir)
		want = filepath.Join(dir, "spec-kitty")
	} else {
		t.Setenv("HOME", dir)
	}
	if got, _ := Root(); got != want {
		t.Fatalf("Root() without SPEC_KITTY_HOME = %q, want %q", got, want)
	}
}

func TestScopeIDResolvesSymlinks(t *testing.T) {
	target := filepath.Join(testtmp.Dir(t), "root")
	link := filepath.Join(testtmp.Dir(t), "link")
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	err := os.Symlink(target, link)
	if err != nil && runtime.GOOS != "windows" {
		t.Fatal(err)
	}
	if _, lerr := os.Lstat(link); err != nil || lerr != nil {
		// Windows needs developer mode or a privilege for a symlink;
		// Wine 8 reports one created and creates nothing.
		t.Skipf("no symlink could be made here: %v, %v", err, lerr)
	}
	a, err := ScopeID(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ScopeID(target)
	if a != b {
		t.Fatalf("ScopeID(link) = %q, ScopeID(target) = %q: want one scope", a, b)
	}
}

func TestScopeIDCreatesAFreshRoot(t *testing.T) {
	root := filepath.Join(testtmp.Dir(t), "a", "b")
	id, err := ScopeID(root)
	if err != nil {
		t.Fatal(err)
	}
	// Windows has no mode bits: there the ACL check (trust_windows_test)
	// is what keeps the root private.
	if fi, err := os.Stat(id); err != nil || !fi.IsDir() || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Fatalf("fresh root: %v %v", fi, err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(testtmp.Dir(t), "sub", "f")
	if err := WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if string(data) != "two" || len(entries) != 1 {
		t.Fatalf("content %q, %d entries (temp files left?)", data, len(entries))
	}
}

func TestDefaultRoot_PerPlatform(t *testing.T) {
	env := map[string]string{"LOCALAPPDATA": `C:\Users\Ann\AppData\Local`}
	getenv := func(k string) string { return env[k] }
	home := func() (string, error) { return "/home/ann", nil }
	if got, err := defaultRoot("linux", getenv, home); err != nil || got != filepath.Join("/home/ann", ".spec-kitty") {
		t.Errorf("linux root = %q, %v", got, err)
	}
	if got, err := defaultRoot("darwin", getenv, home); err != nil || got != filepath.Join("/home/ann", ".spec-kitty") {
		t.Errorf("darwin root = %q, %v", got, err)
	}
	if got, err := defaultRoot("windows", getenv, home); err != nil || got != filepath.Join(env["LOCALAPPDATA"], "spec-kitty") {
		t.Errorf("windows root = %q, %v", got, err)
	}
	delete(env, "LOCALAPPDATA")
	if _, err := defaultRoot("windows", getenv, home); err == nil {
		t.Error("windows root without LOCALAPPDATA: no error")
	}
	if stateDirName("windows") != "daemon" || stateDirName("linux") != "" || stateDirName("darwin") != "" {
		t.Error("the state file, lock and log live in daemon\\ on Windows only")
	}
}
