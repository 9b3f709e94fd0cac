package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// dropImagePages tells the kernel the executable's read-only mappings (text,
// rodata, pclntab) are not needed now. For a private file mapping that was
// never written, MADV_DONTNEED only removes the page-table entries: the
// next use faults the same bytes back in from the page cache, and nothing
// is lost. Writable mappings (data, bss, heap) are left alone, since there
// it would discard what the program wrote. This creates no new hazard: the
// kernel itself drops such clean pages whenever it needs memory, and
// refaults them from the same file (which cannot be written while it runs,
// ETXTBSY, and is only ever replaced by a rename, keeping this inode).
func dropImagePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	textOnly := positionIndependent()
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		lo, hi, ok := readOnlyImage(sc.Bytes(), exe, textOnly)
		if ok {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_DONTNEED)
		}
	}
}

// positionIndependent reports whether the running executable is an ELF
// ET_DYN (PIE) image, or cannot tell. In such an image the loader may have
// written relocations into read-only data before making it read-only
// (RELRO); dropping those pages would refault the unrelocated bytes, so
// only executable mappings are dropped then.
func positionIndependent() bool {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return true
	}
	defer f.Close()
	var hdr [18]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || string(hdr[:4]) != "\x7fELF" {
		return true
	}
	const etExec = 2
	return hdr[16] != etExec || hdr[17] != 0 // e_type, little-endian
}

// readOnlyImage parses one /proc/self/maps line and returns its address
// range when it is a private, non-writable mapping of the file exe (with
// textOnly, an executable one).
//
//	00400000-009b0000 r-xp 00000000 fe:00 9978370   /path/to/exe
func readOnlyImage(line []byte, exe string, textOnly bool) (lo, hi uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || string(bytes.Join(f[5:], []byte(" "))) != exe {
		return 0, 0, false
	}
	perms := f[1]
	if len(perms) != 4 || perms[1] != '-' || perms[3] != 'p' || (textOnly && perms[2] != 'x') {
		return 0, 0, false
	}
	addr := f[0]
	i := bytes.IndexByte(addr, '-')
	if i < 0 {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(string(addr[:i]), 16, 64)
	h, err2 := strconv.ParseUint(string(addr[i+1:]), 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
