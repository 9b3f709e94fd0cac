//go:build windows

package spawn

import (
	"os"
	"os/exec"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestStartDetached_InsideAJob runs this test process in a job object and
// starts a real child each way: a job without JOB_OBJECT_LIMIT_BREAKAWAY_OK
// denies CREATE_BREAKAWAY_FROM_JOB and the child still starts (inside the
// job); once the job allows breakaway the child starts outside it.
func TestStartDetached_InsideAJob(t *testing.T) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		t.Fatalf("CreateJobObject: %v", err)
	}
	defer windows.CloseHandle(job)
	if err := windows.AssignProcessToJobObject(job, windows.CurrentProcess()); err != nil {
		t.Fatalf("AssignProcessToJobObject: %v", err)
	}

	if in := startChildInJob(t, job); !in {
		t.Error("a job without BREAKAWAY_OK: the child is outside the job, want inside")
	}

	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_BREAKAWAY_OK
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		t.Fatalf("SetInformationJobObject: %v", err)
	}
	if in := startChildInJob(t, job); in {
		t.Error("a job with BREAKAWAY_OK: the child stayed in the job, want it broken away")
	}
}

// startChildInJob starts this binary (sleeping) through startDetached,
// reports whether the child is in job, and kills it (our own child).
func startChildInJob(t *testing.T, job windows.Handle) bool {
	t.Helper()
	cmd, usesReady, err := startDetached(func() *exec.Cmd {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), envSleep+"=1")
		return c
	}, nil)
	if err != nil {
		t.Fatalf("startDetached: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if usesReady {
		t.Error("usesReady on Windows, want false (no inherited pipe)")
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_INFORMATION, false, uint32(cmd.Process.Pid))
	if err != nil {
		t.Fatalf("OpenProcess(%d): %v", cmd.Process.Pid, err)
	}
	defer windows.CloseHandle(h)
	var in int32 // BOOL
	if r, _, err := isProcessInJob.Call(uintptr(h), uintptr(job), uintptr(unsafe.Pointer(&in))); r == 0 {
		t.Fatalf("IsProcessInJob: %v", err)
	}
	return in != 0
}

// isProcessInJob is kernel32's IsProcessInJob, which x/sys/windows lacks.
var isProcessInJob = windows.NewLazySystemDLL("kernel32.dll").NewProc("IsProcessInJob")
