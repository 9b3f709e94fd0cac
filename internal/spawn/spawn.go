// Package spawn starts a daemon by re-executing this binary: in its own
// session, its control token on stdin (never argv), its output in a log
// file, and a readiness pipe on which it reports whether it bound its port.
// Both daemon families are started this way.
package spawn

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// EnvReadyFD names the inherited descriptor on which a spawned daemon
// reports whether it bound its port.
const EnvReadyFD = "SPEC_KITTY_READY_FD"

// HealthyWait bounds spawn-to-healthy. A daemon is healthy within tens of
// milliseconds; ten seconds covers a machine loaded by a test suite.
const HealthyWait = 10 * time.Second

// ErrNoFreePort reports a range with no port left.
var ErrNoFreePort = errors.New("no free port")

var errPortTaken = errors.New("port taken")

// Request describes one daemon to start.
type Request struct {
	Exe     string
	Args    func(port int) []string // argv after the executable
	Env     []string
	LogPath string
	Range   api.PortRange
	Token   string
	// Healthy reports whether a health answer is the daemon that was
	// started (its pid, its family, its scope or project).
	Healthy func(h *api.Health, pid int) bool
}

// Test seams: the free-port check (a test takes the port right after it,
// as another process could) and the detached start (a test can start the
// daemon without the readiness pipe, as on Windows).
var (
	portFree = PortFree
	startFn  = startDetached
)

// FirstFree starts the daemon on the first free port of the range and
// returns once it is healthy and has proved it holds the token. A daemon
// that lost its port to another process between the check and its bind
// costs one try: the next port is tried.
func FirstFree(ctx context.Context, req Request) (port, pid int, err error) {
	for _, port := range req.Range.Ports() {
		if !portFree(port) {
			continue
		}
		pid, err := start(ctx, req, port)
		if errors.Is(err, errPortTaken) {
			continue // lost a race for the port to another process
		}
		return port, pid, err
	}
	return 0, 0, fmt.Errorf("%w in %d-%d", ErrNoFreePort, req.Range.Lo, req.Range.Hi-1)
}

func start(ctx context.Context, req Request, port int) (int, error) {
	logf, err := paths.OpenFile(req.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening daemon log: %w", err)
	}
	defer logf.Close() // closed at once after the start; this covers the early returns
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("creating daemon stdin: %w", err)
	}
	defer stdinR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		stdinW.Close()
		return 0, fmt.Errorf("creating readiness pipe: %w", err)
	}
	defer readyR.Close()

	cmd, usesReady, err := startFn(func() *exec.Cmd {
		cmd := exec.Command(req.Exe, req.Args(port)...)
		cmd.Env = req.Env
		// A daemon outlives the command that started it: it must not keep
		// the caller's directory (a removable or temporary mount) busy.
		cmd.Dir = daemonDir()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, logf, logf
		return cmd
	}, readyW)
	readyW.Close()
	// The daemon has its own handle to the log now. Ours goes at once: on
	// Windows an open handle (without FILE_SHARE_DELETE) makes the rename
	// that rotates the log fail, and the daemon logs while we wait for it.
	logf.Close()
	if err != nil {
		stdinW.Close()
		return 0, fmt.Errorf("starting daemon: %w", err)
	}
	// The token travels on stdin, never argv; it fits the pipe buffer.
	_, _ = stdinW.WriteString(req.Token + "\n")
	stdinW.Close()
	// Reap it if this process outlives it, and tell awaitHealthy when it
	// is gone.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	pid := cmd.Process.Pid
	if usesReady {
		if err := awaitReady(readyR, port, req.LogPath); err != nil {
			return 0, err
		}
	}
	if err := awaitHealthy(ctx, req, port, pid, exited); err != nil {
		_ = cmd.Process.Kill() // our own child, never healthy: nothing else to protect
		return 0, err
	}
	return pid, nil
}

// QueueError reports a daemon that could not open its queue file (a file
// that is not a database, a foreign schema). The daemon says so on the
// readiness pipe, so the spawner can name the cause and the file on its
// one error line instead of only pointing at the log.
type QueueError struct {
	Path  string // the queue file
	Cause string // why it cannot be opened, e.g. "file is not a database (26)"
}

func (e *QueueError) Error() string {
	return fmt.Sprintf("the queue %s cannot be opened: %s", e.Path, e.Cause)
}

// queueReport is the readiness line of a QueueError: "queue: <path>\t<cause>".
const queueReport = "queue: "

// awaitReady reads the daemon's one-line bind report.
func awaitReady(r *os.File, port int, logPath string) error {
	_ = r.SetReadDeadline(time.Now().Add(HealthyWait))
	line, err := bufio.NewReader(r).ReadString('\n')
	switch {
	case strings.HasPrefix(line, "ok"):
		return nil
	case strings.HasPrefix(line, queueReport):
		path, cause, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, queueReport)), "\t")
		return &QueueError{Path: path, Cause: cause}
	case strings.HasPrefix(line, "error"):
		return fmt.Errorf("%w: %s", errPortTaken, strings.TrimSpace(line))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("daemon on port %d did not report readiness within %v", port, HealthyWait)
	default:
		return fmt.Errorf("daemon on port %d exited before it was ready (see %s)", port, logPath)
	}
}

// awaitHealthy polls until the daemon answers health as the pid that was
// started and proves it holds the token. A daemon that exits first ends the
// wait at once (a pending health request included: the port may be held by
// a stranger that never answers).
func awaitHealthy(ctx context.Context, req Request, port, pid int, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, HealthyWait)
	defer cancel()
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	go func() {
		select {
		case <-exited:
			hcancel()
		case <-hctx.Done():
		}
	}()
	c := client.New(port)
	delay := time.Millisecond
	for {
		h, err := c.Health(hctx)
		if err == nil && req.Healthy(h, pid) {
			return c.Prove(ctx, req.Token)
		}
		select {
		case <-exited:
			return exitedBeforeHealthy(port, pid, req.LogPath)
		case <-ctx.Done():
			return fmt.Errorf("daemon pid %d on port %d was not healthy within %v", pid, port, HealthyWait)
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// exitedBeforeHealthy explains a daemon that exited before it answered.
// Where no readiness pipe reports the bind (Windows), a port held by
// another process now means the daemon lost the race for it between the
// free-port check and its bind: errPortTaken, so the next port is tried.
func exitedBeforeHealthy(port, pid int, logPath string) error {
	if !portFree(port) {
		return fmt.Errorf("%w: daemon pid %d exited and port %d is held by another process", errPortTaken, pid, port)
	}
	return fmt.Errorf("daemon pid %d on port %d exited before it was healthy (see %s)", pid, port, logPath)
}

// PortFree reports whether the loopback port can be bound.
func PortFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// NewToken returns a fresh control token.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReadyReporter is the daemon side of the readiness pipe: it returns the
// function that tells the spawner whether the port was bound, or nil when
// this process was not started with a pipe.
func ReadyReporter() func(error) {
	fd, err := strconv.Atoi(os.Getenv(EnvReadyFD))
	os.Unsetenv(EnvReadyFD)
	if err != nil || fd < 3 {
		return nil
	}
	f := os.NewFile(uintptr(fd), "ready")
	return func(bindErr error) {
		var qe *QueueError
		switch {
		case errors.As(bindErr, &qe):
			oneLine := strings.NewReplacer("\n", " ", "\r", " ", "\t", " ")
			fmt.Fprintf(f, "%s%s\t%s\n", queueReport, oneLine.Replace(qe.Path), oneLine.Replace(qe.Cause))
		case bindErr != nil:
			fmt.Fprintf(f, "error: %v\n", bindErr)
		default:
			fmt.Fprintln(f, "ok")
		}
		f.Close()
	}
}
