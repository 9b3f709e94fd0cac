package memtrim

import (
	"debug/elf"
	"os"
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
		lo, hi, ok := readOnlyImage([]byte(c.line), exe, false)
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%q: got %x-%x %v, want %x-%x %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

// In a position-independent image the loader may have written relocations
// into read-only data (RELRO): only the text is dropped there.
func TestReadOnlyImage_PIEKeepsRelocatedData(t *testing.T) {
	exe := "/usr/bin/spec-kitty"
	text := "555555554000-555555a00000 r-xp 00000000 fe:00 7 /usr/bin/spec-kitty"
	relro := "555555a00000-555555b00000 r--p 004ac000 fe:00 7 /usr/bin/spec-kitty"
	if _, _, ok := readOnlyImage([]byte(text), exe, true); !ok {
		t.Error("PIE text is not dropped")
	}
	if _, _, ok := readOnlyImage([]byte(relro), exe, true); ok {
		t.Error("PIE read-only data (possibly relocated) is dropped")
	}
}

// The test binary's own ELF type is read: a default linux/amd64 build is
// not PIE, so the answer must match what the ELF header says.
func TestPositionIndependent_ReadsTheELFType(t *testing.T) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := positionIndependent(), ef.Type != elf.ET_EXEC; got != want {
		t.Errorf("positionIndependent() = %v, ELF type %v", got, ef.Type)
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
