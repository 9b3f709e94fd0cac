package probe

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// busyListener listens with the smallest backlog, never accepts, and fills
// the accept queue, so further connects get no answer at all.
func busyListener(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for range 8 {
		c, err := net.DialTimeout("tcp4", addr, 50*time.Millisecond)
		if err != nil {
			return port // the queue is full
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("could not fill the accept queue")
	return 0
}

func TestScan_ListenerWithFullBacklogIsWedged(t *testing.T) {
	port := busyListener(t)
	evs := scan(t, Options{Ports: []int{port}, HealthTimeout: testHealthTimeout})
	if len(evs) != 1 {
		t.Fatalf("got %d results, want the busy listener", len(evs))
	}
	if ev := evs[0]; !ev.Wedged || ev.HTTPAnswered || ev.PID != os.Getpid() {
		t.Errorf("evidence = %+v, want wedged, no answer, owned by this process", ev)
	}
	if !Listening(context.Background(), port) {
		t.Error("Listening is false for a busy listener")
	}
}
