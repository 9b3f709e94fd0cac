package spawn

import (
	"errors"
	"testing"
)

var errDenied = errors.New("access denied")

// fakeStart records the flags of each attempt and fails the ones listed.
type fakeStart struct {
	calls []uint32
	fail  map[int]error // attempt index -> error
}

func (f *fakeStart) start(flags uint32) (int, error) {
	f.calls = append(f.calls, flags)
	if err := f.fail[len(f.calls)-1]; err != nil {
		return 0, err
	}
	return len(f.calls), nil
}

func isDenied(err error) bool { return errors.Is(err, errDenied) }

// TestWithBreakaway_TriesTheFlagFirst: where the job allows it (or there
// is no job) one start with CREATE_BREAKAWAY_FROM_JOB added is all.
func TestWithBreakaway_TriesTheFlagFirst(t *testing.T) {
	f := &fakeStart{}
	got, err := withBreakaway(0x208, f.start, isDenied)
	if err != nil || got != 1 {
		t.Fatalf("withBreakaway = %d, %v; want the first attempt", got, err)
	}
	if len(f.calls) != 1 || f.calls[0] != 0x208|createBreakawayFromJob {
		t.Errorf("attempts %#x, want one with the breakaway flag", f.calls)
	}
}

// TestWithBreakaway_FallsBackWhenTheJobForbidsIt: a job without
// JOB_OBJECT_LIMIT_BREAKAWAY_OK denies the flagged start; the daemon is
// started again without the flag, keeping every other flag.
func TestWithBreakaway_FallsBackWhenTheJobForbidsIt(t *testing.T) {
	f := &fakeStart{fail: map[int]error{0: errDenied}}
	got, err := withBreakaway(0x208, f.start, isDenied)
	if err != nil || got != 2 {
		t.Fatalf("withBreakaway = %d, %v; want the second attempt", got, err)
	}
	if len(f.calls) != 2 || f.calls[1] != 0x208 {
		t.Errorf("attempts %#x, want the flagged one then 0x208", f.calls)
	}
}

// TestWithBreakaway_OtherErrorsAreNotRetried: a missing executable or any
// failure but "denied" is the answer; starting twice would hide it.
func TestWithBreakaway_OtherErrorsAreNotRetried(t *testing.T) {
	missing := errors.New("file not found")
	f := &fakeStart{fail: map[int]error{0: missing}}
	if _, err := withBreakaway(0x208, f.start, isDenied); !errors.Is(err, missing) {
		t.Fatalf("err = %v, want %v", err, missing)
	}
	if len(f.calls) != 1 {
		t.Errorf("%d attempts, want 1", len(f.calls))
	}
}

// TestWithBreakaway_BothDenied: when the start without the flag fails too,
// that error is returned.
func TestWithBreakaway_BothDenied(t *testing.T) {
	f := &fakeStart{fail: map[int]error{0: errDenied, 1: errDenied}}
	if _, err := withBreakaway(0x208, f.start, isDenied); !errors.Is(err, errDenied) {
		t.Fatalf("err = %v, want denied", err)
	}
	if len(f.calls) != 2 {
		t.Errorf("%d attempts, want 2", len(f.calls))
	}
}
