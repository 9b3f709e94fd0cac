//go:build windows

package procinfo

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// TestRead_CreationTimeInFiletimeTicks reads this test process: its start
// time is a FILETIME (100 ns ticks since 1601) between a minute before the
// test began and now, not milliseconds since 1970.
func TestRead_CreationTimeInFiletimeTicks(t *testing.T) {
	info, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self): %v", err)
	}
	ft := windows.NsecToFiletime(time.Now().UnixNano())
	now := filetimeTicks(ft.HighDateTime, ft.LowDateTime)
	hour := uint64(time.Hour / 100)
	if info.StartTime > now || info.StartTime < now-hour {
		t.Fatalf("StartTime = %d, want FILETIME ticks within the last hour of %d", info.StartTime, now)
	}
	if ok, err := SameProcess(info.Identity()); !ok || err != nil {
		t.Fatalf("SameProcess(own identity) = %v, %v", ok, err)
	}
	if ok, _ := SameProcess(Identity{PID: info.PID, StartTime: info.StartTime + 1}); ok {
		t.Fatal("a start time 100 ns off names the same process")
	}
}

// TestRead_ArgvAndExecutableThroughHandles reads this test process's own
// command line and executable through its handle, as the scan reads a
// daemon's: argv splits back to what the process was started with.
func TestRead_ArgvAndExecutableThroughHandles(t *testing.T) {
	info, err := Read(os.Getpid())
	if err != nil {
		t.Fatalf("Read(self): %v", err)
	}
	if !info.ArgvReadable || !slices.Equal(info.Argv[1:], os.Args[1:]) {
		t.Errorf("Argv = %q (readable %v), want the arguments %q", info.Argv, info.ArgvReadable, os.Args[1:])
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(info.Exe, exe) {
		t.Errorf("Exe = %q, want %q", info.Exe, exe)
	}
}

// TestRead_AnotherProcess reads a child this test starts: its argv (spawn
// markers with a drive letter, spaces and quotes) splits back exactly, its
// executable, owner and creation time are read, and the identity check
// holds until it has exited. The child is ping.exe waiting on a
// non-routable address: a plain program that stays up and has no Go in it.
func TestRead_AnotherProcess(t *testing.T) {
	ping := `C:\windows\system32\ping.exe`
	args := []string{"-n", "30", `--spec-kitty-daemon-root=C:\Users\Ann Lee\AppData\Local\spec-kitty`, `odd "quoted" \arg\`, "192.0.2.1"}
	cmd := exec.Command(ping, args...)
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start %s: %v", ping, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) // our own child
	info, err := Read(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("Read(child): %v", err)
	}
	if !info.ArgvReadable || len(info.Argv) == 0 || !slices.Equal(info.Argv[1:], args) {
		t.Errorf("Argv = %q (readable %v), want the arguments %q", info.Argv, info.ArgvReadable, args)
	}
	if !strings.EqualFold(info.Exe, ping) || info.UID != uidSelf || info.StartTime == 0 {
		t.Errorf("Read(child) = exe %q, uid %d, start %d", info.Exe, info.UID, info.StartTime)
	}
	if ok, err := SameProcess(info.Identity()); !ok || err != nil {
		t.Errorf("SameProcess(child) while it runs = %v, %v", ok, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if ok, _ := SameProcess(info.Identity()); ok {
		t.Error("SameProcess(child) after it exited = true")
	}
}
