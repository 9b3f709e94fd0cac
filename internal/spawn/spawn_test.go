package spawn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

// envFakeDaemon makes the test binary a minimal daemon: it binds --port=N,
// reports the bind on the readiness pipe when it has one, exits 3 when the
// port is taken, and otherwise answers health with its pid and the token
// challenge, as the real daemon does.
const envFakeDaemon = "SPEC_KITTY_SPAWN_TEST_DAEMON"

// envSleep makes this test binary, started as a child, wait to be killed
// (the job-object tests on Windows).
const envSleep = "SPEC_KITTY_SPAWN_TEST_SLEEP"

func TestMain(m *testing.M) {
	if os.Getenv(envFakeDaemon) == "1" {
		os.Exit(fakeDaemon())
	}
	if os.Getenv(envSleep) == "1" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeDaemon() int {
	var port string
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "--port="); ok {
			port = v
		}
	}
	token, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	token = strings.TrimSpace(token)
	report := ReadyReporter()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if report != nil {
		report(err)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "binding:", err)
		return 3
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/health", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Health{Status: "ok", Owner: &api.Owner{PID: os.Getpid()}})
	})
	mux.HandleFunc("/api/auth/challenge", func(w http.ResponseWriter, r *http.Request) {
		var req api.ChallengeRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		_ = json.NewEncoder(w).Encode(api.ChallengeResponse{MAC: client.MAC(token, req.Nonce)})
	})
	go func() { time.Sleep(time.Minute); os.Exit(0) }() // never outlive the test for long
	_ = http.Serve(ln, mux)
	return 0
}

// twoFreePorts finds two adjacent free loopback ports, far from the
// product's ranges (the kernel hands out ephemeral ports).
func twoFreePorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lo := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if lo < 65535 && PortFree(lo) && PortFree(lo+1) {
			return lo
		}
	}
	t.Fatal("no two adjacent free ports")
	return 0
}

// TestFirstFree_LostPortRaceTriesTheNextPort: another process takes the
// chosen port between the free-port check and the daemon's bind. The
// daemon exits; FirstFree starts it on the next port instead of failing —
// with the readiness pipe (Unix) and without it (Windows, where only the
// daemon's exit tells).
func TestFirstFree_LostPortRaceTriesTheNextPort(t *testing.T) {
	for _, tc := range []struct {
		name      string
		readiness bool
	}{{"readiness pipe", true}, {"no readiness pipe, as on Windows", false}} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.readiness {
				startFn = func(newCmd func() *exec.Cmd, ready *os.File) (*exec.Cmd, bool, error) {
					cmd, _, err := startDetached(newCmd, ready)
					return cmd, false, err
				}
				t.Cleanup(func() { startFn = startDetached })
			}
			lo := twoFreePorts(t)
			var thief net.Listener
			portFree = func(port int) bool {
				free := PortFree(port)
				if port == lo && free && thief == nil {
					var err error // the race: taken right after the check
					if thief, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
						t.Fatal(err)
					}
				}
				return free
			}
			t.Cleanup(func() {
				portFree = PortFree
				if thief != nil {
					thief.Close()
				}
			})
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(testtmp.Dir(t), "daemon.log")
			port, pid, err := FirstFree(t.Context(), Request{
				Exe:     exe,
				Args:    func(port int) []string { return []string{"--port=" + strconv.Itoa(port)} },
				Env:     append(os.Environ(), envFakeDaemon+"=1"),
				LogPath: log,
				Range:   api.PortRange{Lo: lo, Hi: lo + 2},
				Token:   NewToken(),
				Healthy: func(h *api.Health, pid int) bool { return h.Owner != nil && h.Owner.PID == pid },
			})
			if pid > 0 {
				t.Cleanup(func() {
					if p, err := os.FindProcess(pid); err == nil { // our own child
						_ = p.Kill()
					}
				})
			}
			if err != nil {
				logged, _ := os.ReadFile(log)
				t.Fatalf("FirstFree: %v (daemon log: %q)", err, logged)
			}
			if thief == nil {
				t.Fatal("the port was never taken: the race did not happen")
			}
			if port != lo+1 || pid <= 0 {
				t.Errorf("FirstFree = port %d, pid %d; want the next port %d", port, pid, lo+1)
			}
		})
	}
}
