//go:build windows

package procinfo

import (
	"errors"
	"fmt"
	"os"

	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows has no numeric uid. Info.UID stands in for "same user as this
// process or not", which is all the cleanup needs: uidSelf for a process
// whose owner SID is ours, uidOther for another user's, -1 when unknown.
const (
	uidSelf  = 0
	uidOther = 1
)

// pinRights is what the pre-signal check needs on a handle: read the
// creation time, wait for the exit, and terminate.
const pinRights = windows.PROCESS_TERMINATE | windows.SYNCHRONIZE | windows.PROCESS_QUERY_LIMITED_INFORMATION

func init() {
	openHandle = openWinHandle
}

func currentUID() int { return uidSelf }

// Read returns what Windows says about pid, all through process handles:
// the creation time (GetProcessTimes), the command line
// (NtQueryInformationProcess) split by SplitWindowsCommandLine (the rules
// of CommandLineToArgvW), the executable (QueryFullProcessImageName) and
// the owner.
func Read(pid int) (Info, error) {
	if pid <= 0 {
		return Info{}, fmt.Errorf("reading process %d: invalid pid", pid)
	}
	start, gone, err := readStat(pid)
	switch {
	case err != nil:
		return Info{}, fmt.Errorf("reading process %d: %w", pid, err)
	case gone:
		return Info{}, fmt.Errorf("reading process %d: %w", pid, os.ErrNotExist)
	}
	info := Info{PID: pid, UID: ownerUID(pid), StartTime: start}
	if h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid)); err == nil {
		if line, err := commandLine(h, pid); err == nil {
			info.Argv, info.ArgvReadable = SplitWindowsCommandLine(line), true
		}
		if exe, err := imagePath(h); err == nil {
			info.Exe = exe
		}
		windows.CloseHandle(h)
	}
	if again, _, err := readStat(pid); err != nil || again != start {
		return Info{}, fmt.Errorf("reading process %d: %w", pid, ErrIdentityChanged)
	}
	return info, nil
}

// Alive reports whether pid names a running process.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	return aliveOS(pid)
}

// readStat returns the creation time of pid (FILETIME, 100 ns ticks) and
// whether it has exited; Windows has no zombies, an exited process
// whose handle is still held elsewhere counts as exited.
func readStat(pid int) (start uint64, exited bool, err error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			return 0, false, os.ErrNotExist
		}
		return 0, false, err
	}
	defer windows.CloseHandle(h)
	wh := winHandle{h: h}
	ct, err := wh.creationTime()
	return ct, wh.exited(), err
}

// exited is reached only for a Pinned without a handle, which Windows never
// hands out; it answers from Alive.
func exited(p *Pinned) bool { return !Alive(p.id.PID) }

// ownerUID compares the process owner's SID with ours.
func ownerUID(pid int) int {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return -1
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return -1
	}
	defer tok.Close()
	theirs, err := tok.GetTokenUser()
	if err != nil {
		return -1
	}
	ours, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return -1
	}
	if windows.EqualSid(theirs.User.Sid, ours.User.Sid) {
		return uidSelf
	}
	return uidOther
}

// winHandle is a process handle opened with pinRights.
type winHandle struct{ h windows.Handle }

func openWinHandle(pid int) (procHandle, error) {
	h, err := windows.OpenProcess(pinRights, false, uint32(pid))
	if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
		return nil, os.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	return winHandle{h: h}, nil
}

func (w winHandle) creationTime() (uint64, error) {
	var created, exit, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(w.h, &created, &exit, &kernel, &user); err != nil {
		return 0, err
	}
	return filetimeTicks(created.HighDateTime, created.LowDateTime), nil
}

func (w winHandle) exited() bool {
	ev, err := windows.WaitForSingleObject(w.h, 0)
	return err == nil && ev == windows.WAIT_OBJECT_0
}

// exitCodeTerminated is the exit code a terminated daemon reports.
const exitCodeTerminated = 1

func (w winHandle) terminate() error { return windows.TerminateProcess(w.h, exitCodeTerminated) }

func (w winHandle) close() error { return windows.CloseHandle(w.h) }

// commandLine reads the command line of pid through h
// (ProcessCommandLineInformation: a UNICODE_STRING followed by its text),
// growing the buffer to the size the call asks for. Where that class is
// unknown (Wine 8) it reads the process's PEB instead.
func commandLine(h windows.Handle, pid int) (string, error) {
	size := uint32(1024)
	for range 3 {
		// uint64s keep the UNICODE_STRING at the head 8-byte aligned.
		buf := make([]uint64, (size+7)/8)
		var need uint32
		err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation,
			unsafe.Pointer(&buf[0]), uint32(len(buf)*8), &need)
		switch {
		case err == nil:
			return (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0])).String(), nil
		case need > size && (errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) ||
			errors.Is(err, windows.STATUS_BUFFER_TOO_SMALL) || errors.Is(err, windows.STATUS_BUFFER_OVERFLOW)):
			size = need
		case errors.Is(err, windows.STATUS_INVALID_INFO_CLASS):
			return commandLineFromPEB(pid)
		default:
			return "", fmt.Errorf("reading the command line: %w", err)
		}
	}
	return "", errors.New("reading the command line: it kept growing")
}

// Offsets into another process's memory, for a process of this build's
// pointer size: PROCESS_BASIC_INFORMATION.PebBaseAddress,
// PEB.ProcessParameters and RTL_USER_PROCESS_PARAMETERS.CommandLine (a
// UNICODE_STRING: two uint16 lengths, then the buffer's address).
const (
	ptrSize          = unsafe.Sizeof(uintptr(0))
	pebAddressOffset = ptrSize
	paramsOffset     = 4 * ptrSize     // 0x20 on 64-bit, 0x10 on 32-bit
	cmdlineOffset    = 16 + 12*ptrSize // 0x70 on 64-bit, 0x40 on 32-bit
	maxCommandLine   = 32767 * 2       // bytes: the longest command line Windows starts
)

// commandLineFromPEB reads the command line from the process parameters
// its PEB points to. The addresses belong to the other process, so they
// are kept as plain numbers, never in Go pointers.
func commandLineFromPEB(pid int) (string, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_VM_READ, false, uint32(pid))
	if err != nil {
		return "", fmt.Errorf("reading the command line: %w", err)
	}
	defer windows.CloseHandle(h)
	var pbi [6]uintptr // PROCESS_BASIC_INFORMATION
	if err := windows.NtQueryInformationProcess(h, windows.ProcessBasicInformation,
		unsafe.Pointer(&pbi[0]), uint32(unsafe.Sizeof(pbi)), nil); err != nil {
		return "", fmt.Errorf("reading the command line: %w", err)
	}
	params, err := readPointer(h, pbi[pebAddressOffset/ptrSize]+paramsOffset)
	if err != nil {
		return "", err
	}
	var us [2]uintptr // UNICODE_STRING {Length, MaximumLength, Buffer}
	if err := readMemory(h, params+cmdlineOffset, unsafe.Pointer(&us[0]), unsafe.Sizeof(us)); err != nil {
		return "", err
	}
	n := uintptr(uint16(us[0])) // Length, in bytes
	if n == 0 || n > maxCommandLine {
		return "", fmt.Errorf("reading the command line: length %d", n)
	}
	text := make([]uint16, n/2)
	if err := readMemory(h, us[1], unsafe.Pointer(&text[0]), n); err != nil {
		return "", err
	}
	return windows.UTF16ToString(text), nil
}

func readPointer(h windows.Handle, addr uintptr) (uintptr, error) {
	var v uintptr
	err := readMemory(h, addr, unsafe.Pointer(&v), ptrSize)
	return v, err
}

func readMemory(h windows.Handle, addr uintptr, dst unsafe.Pointer, n uintptr) error {
	if err := windows.ReadProcessMemory(h, addr, (*byte)(dst), n, nil); err != nil {
		return fmt.Errorf("reading the command line: %w", err)
	}
	return nil
}

// imagePath is the full path of the executable of the process behind h.
func imagePath(h windows.Handle) (string, error) {
	buf := make([]uint16, windows.MAX_LONG_PATH)
	size := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &size); err != nil {
		return "", fmt.Errorf("reading the executable: %w", err)
	}
	return windows.UTF16ToString(buf[:size]), nil
}
