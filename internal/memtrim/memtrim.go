// Package memtrim gives a long-lived daemon's memory back to the OS once it
// has gone quiet: after its start-up and after every burst of requests, a
// single timer (no polling) runs a full collection that returns the freed
// heap, and on Linux unmaps the executable's read-only pages from the
// process. Those pages stay in the page cache and are mapped again, by a
// minor fault, the next time they are used; the resident set of an idle
// daemon is then what it is using, not what it once touched (SPEC §14).
package memtrim

import (
	"runtime/debug"
	"sync"
	"time"
)

// Trimmer runs one trim after a quiet period that follows activity.
type Trimmer struct {
	quiet time.Duration

	mu     sync.Mutex
	timer  *time.Timer
	active bool // activity since the last trim
}

// Start returns a trimmer that trims once quiet after now (the start-up
// itself is the first burst) and then once after every burst that Touch
// reports.
func Start(quiet time.Duration) *Trimmer {
	t := &Trimmer{quiet: quiet, active: true}
	t.timer = time.AfterFunc(quiet, t.fire)
	return t
}

// Touch reports activity: the trim waits until quiet has passed since the
// latest Touch. It costs a mutex and, at most, a timer reset.
func (t *Trimmer) Touch() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		return
	}
	t.active = true
	t.timer.Reset(t.quiet)
}

// Stop cancels a pending trim; Touch does nothing afterwards.
func (t *Trimmer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

func (t *Trimmer) fire() {
	t.mu.Lock()
	run := t.active && t.timer != nil
	t.active = false
	t.mu.Unlock()
	if run {
		Now()
	}
}

// Now returns freed heap memory to the OS and drops the executable's
// read-only pages from the resident set.
func Now() {
	debug.FreeOSMemory()
	dropImagePages()
}
