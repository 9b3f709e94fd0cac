package syncd

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/gofrs/flock"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// uploadLock is sync-daemon-upload.lock (SPEC §3, §10): the daemon that
// holds it is the one of the scope that uploads; any other one (a stale
// version, a superseded one) queues and answers but never sends, so retry
// counts and parking are decided by one process. The lock is taken without
// waiting, before every pass, and kept until the daemon exits; the kernel
// releases it when the holder exits or is killed, and the next daemon to
// ask takes it over.
type uploadLock struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	fl     *flock.Flock
	held   bool
	failed string // the last error logged, so a lasting one is logged once
}

func newUploadLock(path string, log *slog.Logger) *uploadLock {
	return &uploadLock{path: path, log: log, fl: flock.New(path, flock.SetPermissions(0o600))}
}

// Hold reports whether this daemon holds the lock, taking it when it is
// free. It never blocks.
func (l *uploadLock) Hold() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return true
	}
	ok, err := l.try()
	if err != nil {
		if msg := err.Error(); msg != l.failed {
			l.log.Warn("taking the upload lock", "err", msg)
			l.failed = msg
		}
		return false
	}
	l.held, l.failed = ok, ""
	return ok
}

// try checks the lock file like every file of the runtime root (a regular
// file, no symlink, no FIFO; created 0600) before flock opens it.
func (l *uploadLock) try() (bool, error) {
	f, err := paths.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", l.path, err)
	}
	f.Close()
	ok, err := l.fl.TryLock()
	if err != nil {
		return false, fmt.Errorf("locking %s: %w", l.path, err)
	}
	return ok, nil
}

// Release lets the lock go (on exit; a kill releases it too).
func (l *uploadLock) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		_ = l.fl.Unlock()
		l.held = false
	}
}
