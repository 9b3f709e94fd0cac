package procinfo

import (
	"errors"
	"fmt"
	"os"
)

// procHandle is an open handle on one process (Windows): it keeps the pid
// from being reused while it is open, so the creation time read through it
// and the termination sent through it concern the same process.
type procHandle interface {
	// creationTime is the process creation time read through the handle,
	// in the unit Read reports StartTime in.
	creationTime() (uint64, error)
	// exited reports whether the process has exited.
	exited() bool
	// terminate ends the process (TerminateProcess).
	terminate() error
	close() error
}

// handleOpener opens a handle on pid, or fails with an error wrapping
// os.ErrNotExist when there is no such process.
type handleOpener func(pid int) (procHandle, error)

// openHandle is set on platforms that pin by handle (Windows); nil where a
// pidfd or an immediate re-check does the job.
var openHandle handleOpener

// pinHandle opens a handle at check time and verifies, on that handle, that
// it names the classified process: alive, with the recorded creation time.
func pinHandle(id Identity, open handleOpener) (*Pinned, error) {
	h, err := open(id.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("pinning %v: %w", id, os.ErrProcessDone)
	case err != nil:
		return nil, fmt.Errorf("pinning %v: %w", id, err)
	}
	if err := checkHandle(id, h); err != nil {
		_ = h.close()
		return nil, fmt.Errorf("pinning %v: %w", id, err)
	}
	return &Pinned{id: id, h: h}, nil
}

// checkHandle is the identity check on an open handle.
func checkHandle(id Identity, h procHandle) error {
	if h.exited() {
		return os.ErrProcessDone
	}
	ct, err := h.creationTime()
	if err != nil {
		return fmt.Errorf("reading creation time: %w", err)
	}
	if ct != id.StartTime {
		return fmt.Errorf("%w: creation time is now %d", ErrIdentityChanged, ct)
	}
	return nil
}

// terminate is the terminate step through the pinned handle: the identity
// is checked once more on the same handle, then TerminateProcess goes
// through it. There is no separate kill step (SeparateKill is false).
func (p *Pinned) terminate() error {
	if err := checkHandle(p.id, p.h); err != nil {
		return fmt.Errorf("terminating %v: %w", p.id, err)
	}
	if err := p.h.terminate(); err != nil {
		return fmt.Errorf("terminating %v: %w", p.id, err)
	}
	return nil
}
