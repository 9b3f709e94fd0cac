package probe

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenLines_SockDiagRefused plays a kernel (gVisor, strict seccomp)
// that refuses netlink: auto falls back to /proc/net/tcp and says so in a
// note; sock_diag asked for by name fails instead, and the finder then
// reports none with the reason.
func TestListenLines_SockDiagRefused(t *testing.T) {
	saved := diagListen
	t.Cleanup(func() { diagListen = saved })
	diagListen = func(uint8) ([]listenLine, error) { return nil, unix.EPROTONOSUPPORT }

	_, used, notes, err := listenLinesBy(SourceAuto)
	if err != nil || used != SourceProcfs || len(notes) != 1 || !strings.Contains(notes[0], "sock_diag refused") {
		t.Errorf("auto = %s, %q, %v; want procfs with a note", used, notes, err)
	}
	if _, _, _, err := listenLinesBy(SourceSockDiag); !errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Errorf("sock_diag by name = %v, want the refusal", err)
	}
	if _, used, notes, err := listenLinesBy(SourceProcfs); err != nil || used != SourceProcfs || len(notes) != 0 {
		t.Errorf("procfs = %s, %q, %v; want procfs without notes", used, notes, err)
	}

	f := newFinderMode([]int{9401}, SourceAuto)
	if r := f.report(); r.Name != SourceProcfs || len(r.Notes) != 1 {
		t.Errorf("auto finder report = %+v, want procfs with the fallback note", r)
	}
	f = newFinderMode([]int{9401}, SourceSockDiag)
	if r := f.report(); r.Name != SourceNone || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "sock_diag") {
		t.Errorf("sock_diag finder report = %+v, want none with the reason", r)
	}
}
