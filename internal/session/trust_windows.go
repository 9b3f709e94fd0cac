//go:build windows

package session

import (
	"fmt"
	"os"
)

// readTrusted reads at most limit bytes of path, which must be a regular
// file and not a symlink. Windows has no POSIX owner and mode to check
// (upstream skips the same check there); the runtime root's ACL protects it.
func readTrusted(path string, limit int64, _ bool) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path, limit)
}

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
