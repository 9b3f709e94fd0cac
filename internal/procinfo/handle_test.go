package procinfo

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// fakeHandle stands in for a Windows process handle, so the pinning
// decisions are tested on every platform.
type fakeHandle struct {
	created    uint64
	createdErr error
	gone       bool
	terminated int
	closed     int
	// onCheck runs on each creationTime read, to change the world between
	// the pin and the terminate step.
	onCheck func(h *fakeHandle)
}

func (f *fakeHandle) creationTime() (uint64, error) {
	if f.onCheck != nil {
		f.onCheck(f)
	}
	return f.created, f.createdErr
}
func (f *fakeHandle) exited() bool     { return f.gone }
func (f *fakeHandle) terminate() error { f.terminated++; f.gone = true; return nil }
func (f *fakeHandle) close() error     { f.closed++; return nil }

func opener(h *fakeHandle, err error) handleOpener {
	return func(int) (procHandle, error) {
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

func TestPinHandle_Decisions(t *testing.T) {
	id := Identity{PID: 4242, StartTime: 1_700_000_000_123}
	cases := []struct {
		name    string
		h       *fakeHandle
		openErr error
		wantErr error
	}{
		{"same creation time pins", &fakeHandle{created: id.StartTime}, nil, nil},
		{"reused pid: creation time differs", &fakeHandle{created: id.StartTime + 1}, nil, ErrIdentityChanged},
		{"exited before the check", &fakeHandle{created: id.StartTime, gone: true}, nil, os.ErrProcessDone},
		{"no such process", nil, os.ErrNotExist, os.ErrProcessDone},
		{"access denied", nil, errors.New("Access is denied."), nil},
		{"creation time unreadable", &fakeHandle{createdErr: errors.New("denied")}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pinHandle(id, opener(tc.h, tc.openErr))
			wantPin := tc.wantErr == nil && tc.openErr == nil && (tc.h == nil || tc.h.createdErr == nil)
			if wantPin {
				if err != nil {
					t.Fatalf("pinHandle = %v, want a pin", err)
				}
				if p.h != procHandle(tc.h) || tc.h.closed != 0 {
					t.Fatalf("pin does not hold the opened handle open")
				}
				return
			}
			if err == nil {
				t.Fatal("pinHandle succeeded, want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("pinHandle error = %v, want %v", err, tc.wantErr)
			}
			if tc.h != nil && (tc.h.closed != 1 || tc.h.terminated != 0) {
				t.Errorf("a refused handle: closed %d, terminated %d; want closed once, never terminated", tc.h.closed, tc.h.terminated)
			}
		})
	}
}

// TestPinned_TerminateThroughTheSameHandle: the terminate step re-checks
// the creation time on the pinned handle and terminates through it; any
// signal maps to TerminateProcess, and an identity that changed on the
// handle stops it.
func TestPinned_TerminateThroughTheSameHandle(t *testing.T) {
	id := Identity{PID: 4242, StartTime: 99}
	h := &fakeHandle{created: 99}
	p, err := pinHandle(id, opener(h, nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("Exited before terminate")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal = %v", err)
	}
	if h.terminated != 1 || !p.Exited() {
		t.Errorf("terminated %d times, exited %v; want once and exited", h.terminated, p.Exited())
	}
	if err := p.Release(); err != nil || h.closed != 1 {
		t.Errorf("Release = %v, closed %d", err, h.closed)
	}

	changed := &fakeHandle{created: 99}
	p, err = pinHandle(id, opener(changed, nil))
	if err != nil {
		t.Fatal(err)
	}
	changed.onCheck = func(f *fakeHandle) { f.created = 100 }
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrIdentityChanged) || changed.terminated != 0 {
		t.Errorf("Signal after the identity changed = %v, terminated %d; want ErrIdentityChanged and no terminate", err, changed.terminated)
	}

	gone := &fakeHandle{created: 99}
	p, err = pinHandle(id, opener(gone, nil))
	if err != nil {
		t.Fatal(err)
	}
	gone.gone = true
	if err := p.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) || gone.terminated != 0 {
		t.Errorf("Signal after exit = %v, terminated %d; want ErrProcessDone and no terminate", err, gone.terminated)
	}
}
