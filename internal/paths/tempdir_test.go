package paths

import (
	"os"
	"path/filepath"
	"testing"
)

// wineSafeTempDir is t.TempDir without its RemoveAll, so that the
// package's tests also pass under Wine 8, where Go's RemoveAll fails ("Invalid function": no FileDispositionInformationEx),
// so the folder is removed file by file.
func wineSafeTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sk-paths-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeTree(dir) })
	return dir
}

func removeTree(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() && e.Type()&os.ModeSymlink == 0 {
			removeTree(p)
			continue
		}
		_ = os.Chmod(p, 0o600)
		_ = os.Remove(p)
	}
	_ = os.Remove(dir)
}
