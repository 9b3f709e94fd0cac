package memtrim

import (
	"testing"
	"time"
)

// A burst that allocated little is not worth a full collection; one that
// allocated more than minAlloc is trimmed, once.
func TestTrimsOnlyAfterRealAllocation(t *testing.T) {
	tr := &Trimmer{quiet: time.Hour, timer: time.NewTimer(time.Hour), lastAlloc: heapAllocated()}
	defer tr.Stop()
	tr.active = true
	tr.fire()
	if tr.lastAlloc == 0 || tr.active {
		t.Fatalf("state after a small burst: %+v", tr)
	}
	before := tr.lastAlloc
	tr.active = true
	tr.fire()
	if tr.lastAlloc != before {
		t.Fatalf("trimmed after allocating %d bytes", heapAllocated()-before)
	}
	sink := make([][]byte, 0, 64)
	for range 64 {
		sink = append(sink, make([]byte, 64<<10)) // 4 MiB
	}
	_ = sink
	tr.active = true
	tr.fire()
	if tr.lastAlloc == before {
		t.Fatal("did not trim after allocating 4 MiB")
	}
	// No activity since: nothing to do.
	after := tr.lastAlloc
	for range 64 {
		sink = append(sink, make([]byte, 64<<10))
	}
	tr.fire()
	if tr.lastAlloc != after {
		t.Fatal("trimmed without activity")
	}
}
