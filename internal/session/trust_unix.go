//go:build !windows

package session

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// checkDir refuses an auth directory that is a symlink, not a directory,
// not the user's, or writable by group or others: a session is neither read
// from nor written to it (SPEC §3). A missing one is fine.
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUntrusted, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s is owned by uid %d, not by you", ErrUntrusted, dir, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s is writable by others (fix: chmod 700 %s)", ErrUntrusted, dir, dir)
	}
	return nil
}
