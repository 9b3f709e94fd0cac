package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/version"
)

// The two auth locks are the Python CLI's, taken the way it takes them so
// that both programs exclude each other:
//
//   - session.lock (py-filelock's FileLock): an exclusive flock on an empty
//     file, polled until a 10 s timeout, around each write and delete.
//   - refresh.lock (its MachineFileLock): an exclusive flock polled every
//     100 ms for at most 10 s; the holder writes a JSON record {host, pid,
//     schema_version: 1, started_at, version} into the locked file and
//     truncates it again before unlocking. The file is never removed: a
//     contender that recreated it would lock a different inode.

// ErrLockTimeout reports that another process held an auth lock for longer
// than the bounded wait.
var ErrLockTimeout = errors.New("another spec-kitty process is holding the auth lock; retry in a moment")

const (
	// fileLockPoll is py-filelock's default poll interval.
	fileLockPoll = 50 * time.Millisecond
	// machineLockPoll is MachineFileLock's _RETRY_SLEEP_S.
	machineLockPoll = 100 * time.Millisecond
	// refreshLockTimeout is upstream's _REFRESH_MAX_HOLD_S, used both for
	// the wait on the lock and for the token request under it.
	refreshLockTimeout = 10 * time.Second
)

// acquire takes the exclusive lock on path, polling every poll until
// timeout or ctx ends.
func acquire(ctx context.Context, path string, timeout, poll time.Duration) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		f, err := openLockFile(path)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if ok {
			return f, nil
		}
		f.Close()
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("locking %s: %w", path, ErrLockTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("locking %s: %w", path, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// withFileLock runs fn holding session.lock.
func withFileLock(path string, timeout time.Duration, fn func() error) error {
	f, err := acquire(context.Background(), path, timeout, fileLockPoll)
	if err != nil {
		return err
	}
	defer func() {
		unlock(f)
		f.Close()
	}()
	return fn()
}

// lockRecord is MachineFileLock's holder record; encoding/json writes the
// keys sorted, as upstream's json.dumps(sort_keys=True) does.
type lockRecord struct {
	Host          string `json:"host"`
	PID           int    `json:"pid"`
	SchemaVersion int    `json:"schema_version"`
	StartedAt     string `json:"started_at"`
	Version       string `json:"version"`
}

// withMachineLock runs fn holding refresh.lock, with the holder record
// written into it.
func withMachineLock(ctx context.Context, path string, timeout time.Duration, fn func() error) error {
	f, err := acquire(ctx, path, timeout, machineLockPoll)
	if err != nil {
		return err
	}
	defer func() {
		_ = f.Truncate(0)
		unlock(f)
		f.Close()
	}()
	host, _ := os.Hostname()
	rec, _ := json.Marshal(lockRecord{
		Host: host, PID: os.Getpid(), SchemaVersion: 1,
		StartedAt: formatISO(time.Now()), Version: version.Current(),
	})
	// Python's json.dumps separators, so the two writers look alike.
	rec = pythonSpacing(rec)
	if err := f.Truncate(0); err == nil {
		if _, err := f.WriteAt(rec, 0); err == nil {
			_ = f.Sync()
		}
	}
	return fn()
}

// pythonSpacing turns compact JSON of a flat object of simple values into
// json.dumps' default ", " and ": " separators.
func pythonSpacing(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	inStr, esc := false, false
	for _, c := range b {
		out = append(out, c)
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == ',' || c == ':'):
			out = append(out, ' ')
		}
	}
	return out
}
