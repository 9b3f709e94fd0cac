//go:build windows

package procinfo

import (
	"errors"
	"fmt"
	"os"

	"github.com/shirou/gopsutil/v4/process"
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

// Read returns what Windows says about pid: the creation time through a
// process handle (GetProcessTimes), the command line through gopsutil,
// split by SplitWindowsCommandLine (the rules of CommandLineToArgvW), the
// executable and the owner.
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
	if p, err := process.NewProcess(int32(pid)); err == nil {
		if line, err := p.Cmdline(); err == nil {
			info.Argv, info.ArgvReadable = SplitWindowsCommandLine(line), true
		}
		if exe, err := p.Exe(); err == nil {
			info.Exe = exe
		}
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
