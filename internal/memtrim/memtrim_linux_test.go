package memtrim

import (
	"strings"
	"testing"
)

func TestReadOnlyImage(t *testing.T) {
	exe := "/opt/spec kitty/bin/spec-kitty"
	cases := []struct {
		line   string
		ok     bool
		lo, hi uintptr
	}{
		{"00400000-009b0000 r-xp 00000000 fe:00 9978370   /opt/spec kitty/bin/spec-kitty", true, 0x400000, 0x9b0000},
		{"009b0000-00f46000 r--p 005b0000 fe:00 9978370   /opt/spec kitty/bin/spec-kitty", true, 0x9b0000, 0xf46000},
		// Written data must never be dropped.
		{"00f46000-00fba000 rw-p 00b46000 fe:00 9978370   /opt/spec kitty/bin/spec-kitty", false, 0, 0},
		// Shared mappings and other files are not ours to drop.
		{"7f5e19e28000-7f5e19e30000 r--s 00000000 fe:00 9983587 /opt/spec kitty/bin/spec-kitty", false, 0, 0},
		{"00400000-009b0000 r-xp 00000000 fe:00 1 /usr/lib/libc.so.6", false, 0, 0},
		{"2bdfe3400000-2bdfe3c00000 rw-p 00000000 00:00 0", false, 0, 0},
		{"garbage", false, 0, 0},
		{"zz-009b0000 r-xp 00000000 fe:00 9978370 /opt/spec kitty/bin/spec-kitty", false, 0, 0},
	}
	for _, c := range cases {
		lo, hi, ok := readOnlyImage([]byte(c.line), exe)
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%q: got %x-%x %v, want %x-%x %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

// After a trim the program still runs: every page dropped comes back from
// the file on its next use.
func TestNowKeepsTheProgramRunning(t *testing.T) {
	Now()
	if got := strings.Repeat("ab", 3); got != "ababab" {
		t.Fatalf("after trim: %q", got)
	}
	Now()
}
