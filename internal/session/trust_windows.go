//go:build windows

package session

import (
	"fmt"
	"os"
)

// checkDir refuses an auth directory that is a symlink or not a directory.
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUntrusted, dir)
	}
	return nil
}
