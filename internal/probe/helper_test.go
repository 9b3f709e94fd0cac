package probe

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// Helper servers are this test binary re-executed with envHelper set, so
// each listener is a real process with its own pid, argv and start time.
// They listen on an ephemeral port and print it on stdout.
const (
	envHelper    = "SPEC_KITTY_PROBE_TEST_HELPER"
	envClaimPID  = "SPEC_KITTY_PROBE_TEST_CLAIM_PID"
	helperSync   = "sync" // a sync-like health answer naming itself as owner
	helperText   = "text" // answers 200 text/plain: no health, no owner hint
	helperMarker = "--spec-kitty-daemon-root=/probe-test-scope"
)

// helperStartDeadline bounds how long a helper may take to print its port:
// it is this binary starting up, milliseconds normally, seconds under -race
// on a loaded machine.
const helperStartDeadline = 10 * time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		runHelper(mode)
		return
	}
	os.Exit(m.Run())
}

func runHelper(mode string) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	fmt.Println(port)
	var h http.HandlerFunc
	switch mode {
	case helperSync:
		claim := os.Getpid()
		if c, err := strconv.Atoi(os.Getenv(envClaimPID)); err == nil {
			claim = c
		}
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(syncHealth(claim, port))
		}
	default:
		h = func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }
	}
	_ = http.Serve(ln, h)
	os.Exit(0)
}

func syncHealth(pid, port int) api.Health {
	return api.Health{
		Status: "ok", DaemonFamily: api.FamilySync, SingletonScopeID: "/probe-test-scope",
		ProtocolVersion: api.ProtocolVersion, PackageVersion: "3.2.4",
		Sync:  &api.SyncStatus{},
		Owner: &api.Owner{PID: pid, Port: port, PackageVersion: "3.2.4"},
	}
}

// helperProc is a running helper server.
type helperProc struct {
	cmd  *exec.Cmd
	pid  int
	port int
}

// startHelper starts a helper in mode with extra environment. Cleanup kills
// it through its own process handle and reaps it.
func startHelper(tb testing.TB, mode string, env ...string) helperProc {
	tb.Helper()
	return startHelperCmd(tb, exec.Command(os.Args[0], "-test.run=^$", helperMarker), mode, env...)
}

func startHelperCmd(tb testing.TB, cmd *exec.Cmd, mode string, env ...string) helperProc {
	tb.Helper()
	cmd.Env = append(append(os.Environ(), envHelper+"="+mode), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting helper: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		port, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			tb.Fatalf("helper printed %q, not a port", s)
		}
		return helperProc{cmd: cmd, pid: cmd.Process.Pid, port: port}
	case <-time.After(helperStartDeadline):
		tb.Fatal("helper did not print its port in time")
	}
	panic("unreachable")
}

// listen opens an in-process listener on an ephemeral loopback port and
// serves each connection with serve. Cleanup closes it.
func listen(tb testing.TB, serve func(net.Conn)) int {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	if serve != nil {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					serve(c)
				}()
			}
		}()
	}
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns an ephemeral port that nothing listens on right now.
func closedPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// Connection behaviours for in-process listeners.

// silent reads the request and never answers (the connection stays open
// until the prober gives up).
func silent(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// hugeBody answers 200 with a 10 MB body of garbage.
func hugeBody(c net.Conn) {
	const size = 10 << 20
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
	chunk := []byte(strings.Repeat("x", 64<<10))
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// endlessBody answers 200 and then streams a body that never ends.
func endlessBody(c net.Conn) {
	fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
	chunk := []byte(strings.Repeat("{", 4<<10))
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// stalledBody answers headers and a few bytes of a longer body, then holds
// the connection without finishing.
func stalledBody(c net.Conn) {
	fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"status\":")
	_, _ = io.Copy(io.Discard, c)
}

// endlessGarbage never sends a line break: not HTTP, and never finished.
func endlessGarbage(c net.Conn) {
	chunk := []byte(strings.Repeat("\x00garbage", 4<<10))
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

// slowHealth answers a valid health payload after delay.
func slowHealth(delay time.Duration) func(net.Conn) {
	return func(c net.Conn) {
		time.Sleep(delay)
		body, _ := json.Marshal(syncHealth(os.Getpid(), 0))
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
}
