package procinfo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrProcArgs reports a kern.procargs2 buffer that does not have the
// layout the kernel writes; nothing read from it is used.
var ErrProcArgs = errors.New("malformed kern.procargs2 buffer")

// maxArgc bounds the argument count read from a buffer: every argument
// takes at least its NUL, so a count beyond the buffer's length is a lie,
// and the kernel's own limit (ARG_MAX, 1 MiB on macOS) is far below this.
const maxArgc = 1 << 20

// ParseProcArgs2 reads what macOS's sysctl kern.procargs2 returns for a
// process (XNU bsd/kern/kern_sysctl.c, sysctl_procargsx):
//
//	int32 argc (host byte order: little-endian on every Mac Go supports)
//	exec path, NUL-terminated (the path given to execve)
//	NUL padding
//	argc strings, each NUL-terminated (argv)
//	environment strings, each NUL-terminated, then the apple[] strings
//
// It returns the exec path and argv. The environment is never read: it is
// not needed to identify a process and may hold another program's secrets.
// A buffer cut short (before the last argv string ends) is an error, never
// a shorter argv, so a truncated read cannot make a stranger's command line
// look like ours.
func ParseProcArgs2(buf []byte) (exe string, argv []string, err error) {
	if len(buf) < 4 {
		return "", nil, fmt.Errorf("%w: %d bytes, no argc", ErrProcArgs, len(buf))
	}
	argc := int32(binary.LittleEndian.Uint32(buf))
	rest := buf[4:]
	if argc < 0 || argc > maxArgc || int(argc) > len(rest) {
		return "", nil, fmt.Errorf("%w: argc %d in %d bytes", ErrProcArgs, argc, len(buf))
	}
	exe, rest, ok := cutString(rest)
	if !ok {
		return "", nil, fmt.Errorf("%w: exec path not terminated", ErrProcArgs)
	}
	rest = bytes.TrimLeft(rest, "\x00")
	argv = make([]string, 0, argc)
	for i := range int(argc) {
		var arg string
		if arg, rest, ok = cutString(rest); !ok {
			return "", nil, fmt.Errorf("%w: argv[%d] of %d not terminated", ErrProcArgs, i, argc)
		}
		argv = append(argv, arg)
	}
	return exe, argv, nil
}

// cutString splits off one NUL-terminated string; ok is false when no NUL
// ends it.
func cutString(b []byte) (s string, rest []byte, ok bool) {
	before, after, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return "", nil, false
	}
	return string(before), after, true
}
