package procinfo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// readAttempts bounds how often Read starts over when the pid was reused
// while it was reading: twice in a row within microseconds means something
// is spawning processes as fast as the pid space allows, and the caller is
// better served by an error than by a loop.
const readAttempts = 2

// errRaced reports that the start time changed during one read.
var errRaced = errors.New("process changed while it was read")

// The files under /proc/<pid> are read with plain open/read/close: os.Open
// would also try to register each one with the network poller and query its
// flags (three more syscalls per file), and a scan reads dozens of them.

// maxStat bounds /proc/<pid>/stat: 52 numbers and a command name of at most
// 64 bytes fit in well under 1 KiB.
const maxStat = 1 << 10

// maxCmdline bounds the command line read. The kernel caps the argument
// area far higher, but a spawn-shaped daemon's argv is a few hundred bytes;
// beyond this the argv is cut, which is still readable evidence.
const maxCmdline = 64 << 10

// Read returns what /proc says about pid. A pid that does not exist (or
// vanishes while being read) is an error wrapping os.ErrNotExist. A command
// line or executable that cannot be read, as for another user's process, is
// not an error: ArgvReadable is false or Exe is "".
func Read(pid int) (Info, error) {
	if pid <= 0 {
		return Info{}, fmt.Errorf("reading process %d: invalid pid", pid)
	}
	for range readAttempts {
		info, err := readOnce(pid)
		if !errors.Is(err, errRaced) {
			return info, err
		}
	}
	return Info{}, fmt.Errorf("reading process %d: %w", pid, ErrIdentityChanged)
}

// ReadOwner is Read for a caller that already knows the owner's uid (the
// socket's, from the kernel's socket table) and re-checks the identity
// itself afterwards, as the listener prober does by reading the socket's fd
// link again: it reads stat once, cmdline and exe, and leaves UID at -1.
func ReadOwner(pid int) (Info, error) {
	if pid <= 0 {
		return Info{}, fmt.Errorf("reading process %d: invalid pid", pid)
	}
	// One handle on the process's directory: the three files are read
	// relative to it, and should the pid die and be reused meanwhile, the
	// handle still names the old process and the reads fail (ESRCH)
	// instead of describing the new one.
	dirfd, err := unix.Open(procDir(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, notExist(&os.PathError{Op: "open", Path: procDir(pid), Err: err}))
	}
	defer unix.Close(dirfd)
	data, err := readSmallAt(dirfd, "stat", maxStat)
	if err != nil {
		return Info{}, fmt.Errorf("reading stat of process %d: %w", pid, notExist(err))
	}
	st, err := parseStat(data)
	if err != nil {
		return Info{}, fmt.Errorf("reading stat of process %d: %w", pid, err)
	}
	info := Info{PID: pid, UID: -1, StartTime: st.start, Zombie: st.zombie}
	data, err = readSmallAt(dirfd, "cmdline", maxCmdline)
	switch {
	case err == nil:
		info.Argv, info.ArgvReadable = splitArgv(data), true
	case vanished(err):
		return Info{}, fmt.Errorf("reading cmdline of process %d: %w", pid, notExist(err))
	}
	var buf [unix.PathMax]byte
	if n, err := unix.Readlinkat(dirfd, "exe", buf[:]); err == nil && n < len(buf) {
		info.Exe = string(buf[:n])
	}
	return info, nil
}

// readOnce reads stat, cmdline, exe and status, then stat again: the two
// start times agree only if every file in between described one process.
func readOnce(pid int) (Info, error) {
	dir := procDir(pid)
	st, err := statOf(dir)
	if err != nil {
		return Info{}, fmt.Errorf("reading stat of process %d: %w", pid, err)
	}
	info := Info{PID: pid, UID: -1, StartTime: st.start}
	if err := readArgvExe(dir, &info); err != nil {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, err)
	}
	uid, err := realUID(dir)
	switch {
	case err == nil:
		info.UID = uid
	case vanished(err):
		return Info{}, fmt.Errorf("reading status of process %d: %w", pid, notExist(err))
	}
	again, err := statOf(dir)
	if err != nil {
		return Info{}, fmt.Errorf("reading stat of process %d: %w", pid, err)
	}
	if again.start != st.start {
		return Info{}, errRaced
	}
	info.Zombie = again.zombie
	return info, nil
}

// readArgvExe fills Argv and Exe. Only a process that vanished is an error;
// what cannot be read is left unknown.
func readArgvExe(dir string, info *Info) error {
	data, err := readSmall(dir+"/cmdline", maxCmdline)
	switch {
	case err == nil:
		info.Argv, info.ArgvReadable = splitArgv(data), true
	case vanished(err):
		return fmt.Errorf("reading cmdline: %w", notExist(err))
	}
	// A missing link (kernel thread, zombie) and a permission error both
	// leave Exe unknown.
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		info.Exe = exe
	}
	return nil
}

// splitArgv splits a NUL-separated command line; an empty one (a kernel
// thread) is an empty, readable argv.
func splitArgv(data []byte) []string {
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return []string{}
	}
	return strings.Split(string(data), "\x00")
}

// Alive reports whether pid names a process that has not exited. A zombie
// has exited: the machine's pid 1 may never reap it.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, zombie, err := readStat(pid)
	return err == nil && !zombie
}

// readStat returns the start time and zombie state of pid; an error wraps
// os.ErrNotExist when the process does not exist.
func readStat(pid int) (start uint64, zombie bool, err error) {
	st, err := statOf(procDir(pid))
	if err != nil {
		return 0, false, fmt.Errorf("reading stat of process %d: %w", pid, err)
	}
	return st.start, st.zombie, nil
}

func procDir(pid int) string { return "/proc/" + strconv.Itoa(pid) }

// stat is what is used of /proc/<pid>/stat.
type stat struct {
	start  uint64
	zombie bool
}

// statOf reads and parses dir/stat; a vanished process wraps
// os.ErrNotExist.
func statOf(dir string) (stat, error) {
	data, err := readSmall(dir+"/stat", maxStat)
	if err != nil {
		return stat{}, notExist(err)
	}
	return parseStat(data)
}

// parseStat reads the state (field 3) and start time (field 22) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself contain spaces and parentheses, so fields are counted from the
// last ')'.
func parseStat(data []byte) (stat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 > len(data) {
		return stat{}, errors.New("malformed stat: no command name")
	}
	rest := data[i+2:] // "S ppid pgrp ..."
	var st stat
	for field := 3; field <= 22; field++ {
		end := bytes.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		tok := bytes.TrimSpace(rest[:end])
		switch field {
		case 3:
			st.zombie = len(tok) == 1 && (tok[0] == 'Z' || tok[0] == 'X')
		case 22:
			v, err := strconv.ParseUint(string(tok), 10, 64)
			if err != nil {
				return stat{}, fmt.Errorf("malformed stat: start time %q", tok)
			}
			st.start = v
			return st, nil
		}
		if end == len(rest) {
			break
		}
		rest = rest[end+1:]
	}
	return stat{}, errors.New("malformed stat: too few fields")
}

// realUID reads the real uid from the Uid line of dir/status.
func realUID(dir string) (int, error) {
	data, err := readSmall(dir+"/status", 8<<10)
	if err != nil {
		return -1, err
	}
	i := bytes.Index(data, []byte("\nUid:"))
	if i < 0 {
		return -1, errors.New("status has no Uid line")
	}
	f := bytes.Fields(data[i+len("\nUid:"):])
	if len(f) == 0 {
		return -1, errors.New("status has an empty Uid line")
	}
	uid, err := strconv.Atoi(string(f[0]))
	if err != nil {
		return -1, fmt.Errorf("status Uid %q: %w", f[0], err)
	}
	return uid, nil
}

// readSmall reads up to limit bytes of a /proc file with open, read and
// close. Errors are *os.PathError, so errors.Is works as with os.ReadFile.
func readSmall(path string, limit int) ([]byte, error) {
	return readSmallAt(unix.AT_FDCWD, path, limit)
}

// readSmallAt is readSmall for path relative to the directory dirfd.
func readSmallAt(dirfd int, path string, limit int) ([]byte, error) {
	fd, err := unix.Openat(dirfd, path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, min(limit, 512))
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):min(cap(buf), limit)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// exited asks the pidfd first (it fails once the process was reaped) and
// /proc second (a zombie is alive to the pidfd but has exited).
func exited(p *Pinned) bool {
	if err := p.proc.Signal(syscall.Signal(0)); errors.Is(err, os.ErrProcessDone) {
		return true
	}
	err := checkIdentity(p.id)
	return errors.Is(err, os.ErrProcessDone) || errors.Is(err, ErrIdentityChanged)
}

// vanished reports whether err means the process is gone: its /proc
// directory disappeared (ENOENT) or the kernel refused a dying one (ESRCH).
func vanished(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// notExist makes a vanished-process error match os.ErrNotExist.
func notExist(err error) error {
	if errors.Is(err, syscall.ESRCH) && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", os.ErrNotExist, err)
	}
	return err
}
