package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// UntrustedError reports a runtime root, or a folder under it, that another
// user could change: owned by someone else or writable by group or others
// (SPEC §3). Nothing is read from or written to such a folder.
type UntrustedError struct {
	Path   string
	Reason string // "owned by uid 0, not uid 1000" or "writable by group or others (mode 0777)"
	Fix    string // the command that makes it safe
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("refusing runtime folder %s: it is %s; fix: %s, or set %s to a folder you own", e.Path, e.Reason, e.Fix, EnvHome)
}

// ErrNotRegular reports a path under the runtime root that is a FIFO,
// socket, device, directory or symlink where a regular file belongs.
var ErrNotRegular = errors.New("not a regular file")

// ErrNotPrivate reports a secret under the runtime root (the session) that
// is not owned by the current user or is open to group or others: it is
// not used (SPEC §3).
var ErrNotPrivate = errors.New("not used")

// Subfolders are the folders under the root that commands and daemons
// write; each is checked like the root itself.
var subfolders = []string{"daemon", "daemons", "auth"}

// CheckTrusted verifies the root and every existing folder under it that a
// command or daemon writes. A missing subfolder is fine: only this user can
// create one in a trusted root, and it is created 0700.
func (l Layout) CheckTrusted() error {
	if err := CheckDir(l.Root); err != nil {
		return err
	}
	for _, sub := range subfolders {
		err := CheckDir(filepath.Join(l.Root, sub))
		var pe *fs.PathError
		switch {
		case err == nil, errors.Is(err, os.ErrNotExist):
		case errors.As(err, &pe):
			// The root is ours but we may not look inside (mode 000):
			// that is an unreadable root, not an untrusted one.
			return fmt.Errorf("cannot read the runtime root %s: %w", l.Root, pe.Err)
		default:
			return err
		}
	}
	return nil
}

// CheckDir verifies that dir is a directory owned by the current user and not
// writable by group or others. A missing dir is os.ErrNotExist.
func CheckDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		// The root was resolved already; a symlinked subfolder could point
		// anywhere, so it is not trusted.
		return &UntrustedError{Path: dir, Reason: "a symlink", Fix: "rm " + dir}
	}
	if !fi.IsDir() {
		return &UntrustedError{Path: dir, Reason: "not a directory", Fix: "move " + dir + " away"}
	}
	return checkOwner(dir, fi)
}
