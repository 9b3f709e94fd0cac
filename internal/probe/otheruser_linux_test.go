package probe

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// nobodyUID is the conventional unprivileged user.
const nobodyUID = 65534

// startHelperAs starts a helper running as uid, from a copy of this test
// binary that uid can execute.
func startHelperAs(t *testing.T, mode string, uid int) helperProc {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "helper")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin, "-test.run=^$", helperMarker)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	return startHelperCmd(t, cmd, mode)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestScan_OtherUsersListenerHasUnknownPID: a listener of another user is
// reported with its socket's uid and an unknown pid, and not as an error.
// Starting a process as another user needs root; the scanner then plays an
// unprivileged user of its own.
func TestScan_OtherUsersListenerHasUnknownPID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("starting a process as another user needs root")
	}
	h := startHelperAs(t, helperText, nobodyUID)
	f := newFinder([]int{h.port})
	f.euid = nobodyUID + 1 // neither root nor the listener's user
	o := f.rest(context.Background(), []int{h.port})[h.port]
	if o.info.PID != 0 || o.uid != nobodyUID {
		t.Errorf("owner = pid %d uid %d, want pid unknown (0) and uid %d", o.info.PID, o.uid, nobodyUID)
	}

	// As root, the same listener is fully resolved.
	ev := scanOne(t, h.port, nil)
	if ev.PID != h.pid || ev.UID != nobodyUID {
		t.Errorf("as root: pid %d uid %d, want %d and %d", ev.PID, ev.UID, h.pid, nobodyUID)
	}
}
