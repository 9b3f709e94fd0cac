//go:build !windows

package paths

import (
	"fmt"
	"os"
	"syscall"
)

// checkOwner refuses a folder owned by another user or writable by group
// or others.
func checkOwner(dir string, fi os.FileInfo) error {
	uid := os.Getuid()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != uid {
		return &UntrustedError{Path: dir, Reason: fmt.Sprintf("owned by uid %d, not you (uid %d)", st.Uid, uid),
			Fix: fmt.Sprintf("sudo chown %d %s && chmod 700 %s", uid, dir, dir)}
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &UntrustedError{Path: dir, Reason: fmt.Sprintf("writable by group or others (mode %04o)", perm),
			Fix: "chmod 700 " + dir}
	}
	return nil
}

// checkPrivateFile reports whether fi, the status of the open file f, is
// owned by the current user with no permission for group or others.
func checkPrivateFile(f *os.File, fi os.FileInfo) error {
	path := f.Name()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is owned by uid %d, not you: %w", path, st.Uid, ErrNotPrivate)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o, not 0600: %w (fix: chmod 600 %s)", path, perm, ErrNotPrivate, path)
	}
	return nil
}

// openFlags are added to every open under the runtime root: a final
// symlink is an error, and a FIFO never blocks the open.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

var errLoop error = syscall.ELOOP

// checkOpened: the mode check in OpenFile is all Unix needs; O_NOFOLLOW
// already refused a final symlink.
func checkOpened(*os.File) error { return nil }
