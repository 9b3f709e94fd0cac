package paths

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// OpenFile opens a file under the runtime root without following a final
// symlink (on Windows, any reparse point) and without blocking on a FIFO,
// and returns it only when it is a regular file (SPEC §3). Every reader and writer of the root's files uses
// it: the state file, the per-instance and owner records, the journal, the
// log and the queue file.
func OpenFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|openFlags, perm)
	if err != nil {
		if isLoop(err) {
			return nil, fmt.Errorf("opening %s: %w (a symlink)", path, ErrNotRegular)
		}
		return nil, err
	}
	if err := checkOpened(f); err != nil {
		f.Close()
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	return f, nil
}

// Open opens a file under the runtime root for reading (see OpenFile).
func Open(path string) (*os.File, error) { return OpenFile(path, os.O_RDONLY, 0) }

// OpenPrivate opens a secret under the runtime root (the session) for
// reading: a regular file, owned by the current user, mode 0600 or
// stricter (on Windows: no one but the user, SYSTEM and Administrators may
// write it). Anything else is refused, never read.
func OpenPrivate(path string) (*os.File, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkPrivateFile(f, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFileLimit reads a file under the runtime root, refusing one larger
// than limit: a damaged or hostile file must not exhaust memory.
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("reading %s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// isLoop reports the error O_NOFOLLOW gives for a final symlink.
func isLoop(err error) bool { return errors.Is(err, errLoop) }
