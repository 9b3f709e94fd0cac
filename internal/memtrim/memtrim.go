// Package memtrim gives a long-lived daemon's heap back to the OS once it
// has gone quiet: after its start-up and after every burst of requests that
// allocated enough to matter, a single timer (no polling) runs a full
// collection that returns the freed heap. The figure it keeps small is the
// daemon's anonymous memory (SPEC §14).
//
// It used to also drop the executable's text pages (MADV_DONTNEED on the
// read-only image). That made RSS look small but freed nothing the page
// cache does not keep, and every next request faulted the pages back in:
// measured (BENCHMARKS.md "Trimming"), a daemon polled every 3 s spent
// about 10x the CPU of one that trims nothing, 126 page faults a poll,
// and a reuse after a quiet spell took 81 faults in the daemon instead of
// 3-10. Only the heap part pays for itself, and only after real work.
package memtrim

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// minAlloc is how much a burst must have allocated for a trim to be worth
// its full collection: one health answer allocates tens of kilobytes, so a
// page polling every 3 s costs a collection every few minutes, not one a
// poll; a thousand answers or an upload round trim at once.
const minAlloc = 1 << 20

// Trimmer runs one trim after a quiet period that follows activity.
type Trimmer struct {
	quiet time.Duration

	mu        sync.Mutex
	timer     *time.Timer
	active    bool   // activity since the last trim
	lastAlloc uint64 // heap bytes allocated when the last trim ran
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
	allocated := heapAllocated()
	t.mu.Lock()
	run := t.active && t.timer != nil && allocated-t.lastAlloc >= minAlloc
	if run {
		t.lastAlloc = allocated
	}
	t.active = false
	t.mu.Unlock()
	if run {
		Now()
	}
}

// heapAllocated reads the cumulative heap allocation. ReadMemStats stops
// the world for a moment, which costs nothing here: it runs once after a
// quiet spell, just before a full collection that stops it longer. The
// lighter runtime/metrics would cost every process that links this
// package — each CLI run too — about 0.6 ms and 15 KB at start-up for its
// initialiser.
func heapAllocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// Now returns freed heap memory to the OS.
func Now() { debug.FreeOSMemory() }
