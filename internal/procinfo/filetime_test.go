package procinfo

import "testing"

func TestFiletimeTicks_KeepsEvery100ns(t *testing.T) {
	// 2026-01-01T00:00:00Z is 134116992000000000 ticks since 1601.
	const jan2026 = 134116992000000000
	hi, lo := uint32(jan2026>>32), uint32(jan2026&0xffffffff)
	if got := filetimeTicks(hi, lo); got != jan2026 {
		t.Fatalf("filetimeTicks(%#x, %#x) = %d, want %d", hi, lo, got, uint64(jan2026))
	}
	// Two creations 100 ns apart are two identities, and so are two
	// creations that differ only in the high half.
	if filetimeTicks(hi, lo) == filetimeTicks(hi, lo+1) {
		t.Error("creation times 100 ns apart compare equal")
	}
	if filetimeTicks(1, 0) == filetimeTicks(0, 0) {
		t.Error("the high half is lost")
	}
}
