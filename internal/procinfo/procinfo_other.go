//go:build !linux && !darwin && !windows

package procinfo

import (
	"errors"
	"fmt"
	"os"
)

// Read returns what this platform can tell about pid, which is only whether
// it exists: argv, executable, owner and start time are unknown, so nothing
// read here can authorise a signal.
func Read(pid int) (Info, error) {
	if pid <= 0 {
		return Info{}, fmt.Errorf("reading process %d: invalid pid", pid)
	}
	if !Alive(pid) {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, os.ErrNotExist)
	}
	return Info{PID: pid, UID: -1}, nil
}

// Alive reports whether pid names a running process, as far as this
// platform can tell.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return aliveOS(pid)
}

// readStat cannot read start times here; identity checks therefore fail
// closed and Pin never succeeds.
func readStat(pid int) (start uint64, zombie bool, err error) {
	return 0, false, fmt.Errorf("reading start time of process %d: %w", pid, errors.ErrUnsupported)
}

// exited is reached only through a Pinned, which this platform never hands
// out; it answers from Alive for completeness.
func exited(p *Pinned) bool { return !Alive(p.id.PID) }
