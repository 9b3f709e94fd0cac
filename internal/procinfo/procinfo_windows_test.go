//go:build windows

package procinfo

import (
	"os"
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
