package dashboard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// healthyWait bounds spawn-to-healthy. A dashboard is healthy within tens
// of milliseconds; ten seconds covers a machine loaded by a test suite.
const healthyWait = 10 * time.Second

// ErrNoFreePort reports a dashboard range with no port left.
var ErrNoFreePort = errors.New("no free port in the dashboard range 9237-9336")

var errPortTaken = errors.New("port taken")

// spawn starts one dashboard on the first free port of the range, waits
// until it is healthy and holds its token, and writes the project's
// .dashboard. The caller holds the project lock.
func spawn(ctx context.Context, opts StartOptions) (statefile.Record, error) {
	token := lifecycle.NewToken()
	for _, port := range api.DashboardRange.Ports() {
		if !lifecycle.PortFree(port) {
			continue
		}
		pid, err := startDaemon(ctx, opts, port, token)
		if errors.Is(err, errPortTaken) {
			continue // lost a race for the port to another process
		}
		if err != nil {
			return statefile.Record{}, err
		}
		rec := statefile.Record{URL: client.URL(port), Port: port, Token: token, PID: pid}
		if err := statefile.Write(StateFile(opts.Project), rec); err != nil {
			return rec, fmt.Errorf("recording the dashboard: %w", err)
		}
		return rec, nil
	}
	return statefile.Record{}, ErrNoFreePort
}

// startDaemon re-executes the binary as `__dashboard-daemon` in its own
// session, hands it the token on stdin, and waits for its bind report and
// a healthy answer from the pid it started.
func startDaemon(ctx context.Context, opts StartOptions, port int, token string) (int, error) {
	logf, err := os.OpenFile(LogFile(opts.Project), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("opening dashboard log: %w", err)
	}
	defer logf.Close()
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("creating dashboard stdin: %w", err)
	}
	defer stdinR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		stdinW.Close()
		return 0, fmt.Errorf("creating readiness pipe: %w", err)
	}
	defer readyR.Close()

	cmd := exec.Command(opts.Exe, Argv(port, opts.Project)...)
	cmd.Env = append(os.Environ(), version.EnvCLIVersion+"="+opts.Version)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, logf, logf
	usesReady := detach(cmd, readyW)
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		stdinW.Close()
		return 0, fmt.Errorf("starting dashboard: %w", err)
	}
	// The token travels on stdin, never argv; it fits the pipe buffer.
	_, _ = stdinW.WriteString(token + "\n")
	stdinW.Close()
	go func() { _ = cmd.Wait() }() // reap it if this process outlives it

	pid := cmd.Process.Pid
	if usesReady {
		if err := awaitReady(readyR, port, LogFile(opts.Project)); err != nil {
			return 0, err
		}
	}
	if err := awaitHealthy(ctx, port, pid, opts.Project, token); err != nil {
		_ = cmd.Process.Kill() // our own child, never healthy: nothing else to protect
		return 0, err
	}
	return pid, nil
}

// awaitReady reads the daemon's one-line bind report.
func awaitReady(r *os.File, port int, logPath string) error {
	_ = r.SetReadDeadline(time.Now().Add(healthyWait))
	line, err := bufio.NewReader(r).ReadString('\n')
	switch {
	case strings.HasPrefix(line, "ok"):
		return nil
	case strings.HasPrefix(line, "error"):
		return fmt.Errorf("%w: %s", errPortTaken, strings.TrimSpace(line))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("dashboard on port %d did not report readiness within %v", port, healthyWait)
	default:
		return fmt.Errorf("dashboard on port %d exited before it was ready (see %s)", port, logPath)
	}
}

// awaitHealthy polls until the dashboard answers health as the pid we
// started, for this project, and proves it holds the token.
func awaitHealthy(ctx context.Context, port, pid int, project, token string) error {
	ctx, cancel := context.WithTimeout(ctx, healthyWait)
	defer cancel()
	c := client.New(port)
	delay := time.Millisecond
	for {
		h, err := c.Health(ctx)
		if err == nil && h.DaemonFamily == api.FamilyDashboard && h.ProjectPath == project &&
			h.Owner != nil && h.Owner.PID == pid {
			return c.Prove(ctx, token)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dashboard pid %d on port %d was not healthy within %v", pid, port, healthyWait)
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}
