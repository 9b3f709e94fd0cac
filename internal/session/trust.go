package session

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// readTrusted reads at most limit bytes of path, opened the way every file
// of the runtime root is (paths.Open): no final symlink followed, no block
// on a FIFO, a regular file only. When private, it must also be owned by
// the current user with no group or other permission bits, on Windows with
// no one but the user, SYSTEM and Administrators allowed to write it
// (paths.OpenPrivate; SPEC §3: the session is used only then). Refusals are
// ErrUntrusted.
func readTrusted(path string, limit int64, private bool) ([]byte, error) {
	f, err := openTrusted(path, private)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path, limit)
}

// openTrusted opens path as readTrusted reads it.
func openTrusted(path string, private bool) (*os.File, error) {
	open := paths.Open
	if private {
		open = paths.OpenPrivate
	}
	f, err := open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, os.ErrNotExist
	case errors.Is(err, paths.ErrNotRegular), errors.Is(err, paths.ErrNotPrivate):
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	case err != nil:
		return nil, err
	}
	return f, nil
}

// checkDir refuses an auth directory that is a symlink, not a directory,
// not the user's, or writable by group or others — paths.CheckDir, the
// check of every folder of the runtime root: a session is neither read from
// nor written to it (SPEC §3). A missing one is fine. Refusals are
// ErrUntrusted.
func checkDir(dir string) error {
	err := paths.CheckDir(dir)
	var untrusted *paths.UntrustedError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.As(err, &untrusted):
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	return err
}

// readLimited reads at most limit bytes of the file at path from r; a file
// that holds more is invalid, never read whole (a damaged or hostile file
// must not exhaust memory). Both platforms' readTrusted end here.
func readLimited(r io.Reader, path string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, path, limit)
	}
	return data, nil
}
