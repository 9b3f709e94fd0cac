package testtmp

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDir_RemovedWithEverythingInIt(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		dir = Dir(t)
		sub := filepath.Join(dir, "a", "b")
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{filepath.Join(dir, "x"), filepath.Join(sub, "y")} {
			if err := os.WriteFile(f, []byte("z"), 0o400); err != nil {
				t.Fatal(err)
			}
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s after the test: %v, want it gone", dir, err)
	}
}
