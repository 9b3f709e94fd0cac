package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// lockWait bounds how long a command waits for the scope lock. Twenty CLIs
// started at once queue behind one spawn (tens of milliseconds each); thirty
// seconds only ends a wait on a lock holder that is truly stuck.
const lockWait = 30 * time.Second

// ErrLockTimeout reports a scope lock that could not be taken in time.
var ErrLockTimeout = errors.New("timed out waiting for the scope lock")

// Lock takes the advisory lock that serialises every spawn, reap and stop of
// a scope. The caller must call the returned unlock.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating runtime root: %w", err)
	}
	fl := flock.New(path, flock.SetPermissions(0o600))
	ctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	// A blocking flock is woken by the kernel the moment the holder lets
	// go; polling would make twenty waiting CLIs fight for two cores.
	done := make(chan error, 1)
	go func() { done <- fl.Lock() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		return func() { _ = fl.Unlock() }, nil
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				_ = fl.Unlock()
			}
		}()
		return nil, fmt.Errorf("locking %s: %w", path, ErrLockTimeout)
	}
}
