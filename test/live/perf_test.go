//go:build linux

package live

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// sockets counts the socket descriptors pid holds.
func sockets(t *testing.T, pid int) int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:[") {
			n++
		}
	}
	return n
}

// A recorded daemon that never answers is asked for health once per
// `auth doctor`: the report reuses the scan's answer instead of waiting a
// second health timeout (SPEC §14: every wedged listener costs at most one).
// The listener keeps every connection it accepts open, so its socket count
// is the number of times it was asked.
func TestDoctor_WedgedRecordedDaemonIsAskedOnce(t *testing.T) {
	e := testenv.New(t)
	port := testenv.FreePorts(t, api.SyncRange, 1)[0]
	silent := e.SilentTCP(port)
	rec := statefile.Record{URL: client.URL(port), Port: port, Token: "recorded-token", PID: silent.PID}
	if err := statefile.Write(e.Path("sync-daemon"), rec); err != nil {
		t.Fatal(err)
	}
	// The readiness check (testenv.WaitListening) made one connection; wait
	// until the listener has accepted it, so it is not counted below.
	deadline := time.Now().Add(5 * time.Second)
	for sockets(t, silent.PID) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	before := sockets(t, silent.PID)
	if before != 2 {
		t.Fatalf("the silent listener holds %d sockets before the run, want 2 (listener and the readiness check)", before)
	}
	rep, _ := doctorJSON(t, e, 0)
	if rep.Daemon.Active || rep.Daemon.PID == nil || *rep.Daemon.PID != silent.PID {
		t.Errorf("daemon = %+v, want the recorded pid %d, not active", rep.Daemon, silent.PID)
	}
	if got := sockets(t, silent.PID) - before; got != 1 {
		t.Errorf("the wedged recorded listener was connected to %d times by one doctor run, want 1", got)
	}
}
