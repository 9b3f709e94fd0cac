package lifecycle

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
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// Spawn-shape names (SPEC §4.1): other programs and the classifier match them.
const (
	SyncDaemonCommand = "__sync-daemon"
	FlagPort          = "--port="
	FlagDaemonRoot    = "--spec-kitty-daemon-root="
	FlagDaemonExec    = "--spec-kitty-daemon-exec="
	// EnvReadyFD names the inherited descriptor on which a spawned daemon
	// reports whether it bound its port.
	EnvReadyFD = "SPEC_KITTY_READY_FD"
)

// healthyWait bounds spawn-to-healthy. A daemon is healthy within tens of
// milliseconds; ten seconds covers a machine loaded by a test suite.
const healthyWait = 10 * time.Second

// ErrNoFreePort reports a sync range with no port left.
var ErrNoFreePort = errors.New("no free port in the sync range")

// SyncArgv is the production spawn argv of a sync daemon (without argv[0]).
func SyncArgv(port int, scopeID, exe string) []string {
	return []string{
		SyncDaemonCommand,
		FlagPort + strconv.Itoa(port),
		FlagDaemonRoot + scopeID,
		FlagDaemonExec + exe,
	}
}

// NewToken returns a fresh control token.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Spawn starts one daemon on the first free port of the sync range, waits
// until it is healthy and holds its token, and writes the state file. The
// caller holds the scope lock.
func Spawn(ctx context.Context, opts Options) (statefile.Record, error) {
	exe := opts.Exe
	if exe == "" {
		var err error
		if exe, err = ResolvedExecutable(); err != nil {
			return statefile.Record{}, err
		}
	}
	token := NewToken()
	for _, port := range api.SyncRange.Ports() {
		if !PortFree(port) {
			continue
		}
		pid, err := startDaemon(ctx, opts, exe, port, token)
		if errors.Is(err, errPortTaken) {
			continue // lost a race for the port to another process
		}
		if err != nil {
			return statefile.Record{}, err
		}
		rec := statefile.Record{URL: client.URL(port), Port: port, Token: token, PID: pid}
		if err := statefile.Write(opts.Layout.StateFile(), rec); err != nil {
			return rec, fmt.Errorf("recording the daemon: %w", err)
		}
		return rec, nil
	}
	return statefile.Record{}, ErrNoFreePort
}

var errPortTaken = errors.New("port taken")

func startDaemon(ctx context.Context, opts Options, exe string, port int, token string) (int, error) {
	logf, err := os.OpenFile(opts.Layout.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening daemon log: %w", err)
	}
	defer logf.Close()
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

	cmd := exec.Command(exe, SyncArgv(port, opts.Layout.ScopeID(), exe)...)
	cmd.Env = append(os.Environ(), version.EnvCLIVersion+"="+opts.Version)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, logf, logf
	usesReady := detach(cmd, readyW)
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		stdinW.Close()
		return 0, fmt.Errorf("starting daemon: %w", err)
	}
	// The token travels on stdin, never argv; it fits the pipe buffer.
	_, _ = stdinW.WriteString(token + "\n")
	stdinW.Close()
	go func() { _ = cmd.Wait() }() // reap it if this process outlives it

	pid := cmd.Process.Pid
	if usesReady {
		if err := awaitReady(readyR, port); err != nil {
			return 0, err
		}
	}
	if err := awaitHealthy(ctx, port, pid, token); err != nil {
		_ = cmd.Process.Kill() // our own child, never healthy: nothing else to protect
		return 0, err
	}
	return pid, nil
}

// awaitReady reads the daemon's one-line bind report.
func awaitReady(r *os.File, port int) error {
	_ = r.SetReadDeadline(time.Now().Add(healthyWait))
	line, err := bufio.NewReader(r).ReadString('\n')
	switch {
	case strings.HasPrefix(line, "ok"):
		return nil
	case strings.HasPrefix(line, "error"):
		return fmt.Errorf("%w: %s", errPortTaken, strings.TrimSpace(line))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("daemon on port %d did not report readiness within %v", port, healthyWait)
	default:
		return fmt.Errorf("daemon on port %d exited before it was ready (see sync-daemon.log)", port)
	}
}

// awaitHealthy polls until the daemon answers health as the pid we started
// and proves it holds the token.
func awaitHealthy(ctx context.Context, port, pid int, token string) error {
	ctx, cancel := context.WithTimeout(ctx, healthyWait)
	defer cancel()
	c := client.New(port)
	delay := time.Millisecond
	for {
		h, err := c.Health(ctx)
		if err == nil && h.Owner != nil && h.Owner.PID == pid {
			return c.Prove(ctx, token)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("daemon pid %d on port %d was not healthy within %v", pid, port, healthyWait)
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// PortFree reports whether nothing listens on the loopback port.
func PortFree(port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback.Addr, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// ResolvedExecutable returns this binary's path with symlinks resolved.
func ResolvedExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding own executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return exe, nil
}
