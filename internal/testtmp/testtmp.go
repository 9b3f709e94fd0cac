// Package testtmp gives a test a temporary folder that is removed entry by
// entry. t.TempDir removes its folder with os.RemoveAll, which under Wine 8
// fails ("Invalid function": Go deletes through
// FileDispositionInformationEx, which Wine 8 does not implement) and so
// fails every test that uses it; os.Remove works there. Packages whose
// Windows test binaries run under Wine use this instead.
package testtmp

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir creates a fresh folder and removes it, with everything in it, when
// the test ends. A leftover entry is logged, never a failure.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sk-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeTree(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// removeTree removes dir depth first, without following symlinks.
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if err := removeTree(p); err != nil {
				return err
			}
			continue
		}
		_ = os.Chmod(p, 0o600) // a read-only file cannot be removed on Windows
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}
