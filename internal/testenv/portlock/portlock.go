// Package portlock is the machine-wide lock of the reserved port ranges
// (sync [9400, 9450), dashboard [9237, 9337)). Every test binary that binds,
// dials or cleans a port in those ranges holds it for its whole run, so two
// such packages never run at once even though `go test ./...` runs packages
// in parallel; bench.sh and manual experiments take the same file with
// flock(1).
package portlock

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// Path is the lock file: $TMPDIR/spec-kitty-live-ports.lock.
var Path = filepath.Join(os.TempDir(), "spec-kitty-live-ports.lock")

// Hold blocks until this process holds the lock and returns its release.
func Hold() (release func(), err error) {
	l := flock.New(Path)
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("taking the port lock %s: %w", Path, err)
	}
	return func() { _ = l.Unlock() }, nil
}
