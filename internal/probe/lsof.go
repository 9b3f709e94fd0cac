package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// lsofTimeout bounds one lsof run. lsof walks every process's descriptors
// and takes tens of milliseconds on a laptop; three seconds leave room for a
// loaded machine while keeping a hung lsof (a stuck NFS mount, although -b
// avoids most kernel blocks) from stalling the command. A run that does
// not finish in time is a source failure, never "no listeners".
const lsofTimeout = 3 * time.Second

// lsofWaitDelay bounds the wait for lsof's output pipes after it exited or
// was killed: a child lsof forked may still hold them, and Wait would
// otherwise block until that child exits.
const lsofWaitDelay = 500 * time.Millisecond

// lsofMaxOutput bounds what is read from lsof: a range of 50 ports with a
// few pids each is a few kilobytes. Output beyond it is a failure, since a
// cut listing could hide a second owner of a port.
const lsofMaxOutput = 1 << 20

// lsofMaxStderr keeps enough of lsof's complaint for one error line.
const lsofMaxStderr = 4096

// lsofArgs asks for the TCP listeners of one port range, in lsof's field
// output (SPEC §8 Platforms): p (pid), c (command) and n (name:
// address:port) per socket. -b keeps lsof from kernel calls that can block
// (stat, readlink on a dead mount); -w drops the warnings -b causes.
func lsofArgs(lo, hi int) []string {
	return []string{"-nP", "-b", "-w", fmt.Sprintf("-iTCP:%d-%d", lo, hi), "-sTCP:LISTEN", "-F", "pcn"}
}

// lsofSource runs lsof as a listener source.
type lsofSource struct {
	// fallback is tried when lsof is not on PATH; "" for none.
	fallback string
	// timeout bounds one run.
	timeout time.Duration
}

// defaultLsof is the lsof source the scan uses.
var defaultLsof = lsofSource{fallback: platformLsof(), timeout: lsofTimeout}

// lsofListeners runs lsof over the span of ports.
func lsofListeners(ctx context.Context, ports []int) ([]pidListener, error) {
	return defaultLsof.list(ctx, ports)
}

// list runs lsof over the span of ports. A missing lsof, a timeout, an
// error or a cut listing is an error (the scan then reports a source
// failure and names no pid); only lsof's own "nothing matched" is an empty
// answer.
func (s lsofSource) list(ctx context.Context, ports []int) ([]pidListener, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	path, err := s.path()
	if err != nil {
		return nil, err
	}
	out, err := s.run(ctx, path, lsofArgs(slices.Min(ports), slices.Max(ports)))
	if err != nil {
		return nil, err
	}
	return ParseLsof(out), nil
}

// run executes lsof within the timeout and judges what came back.
func (s lsofSource) run(ctx context.Context, path string, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out := &limitedBuffer{max: lsofMaxOutput}
	errOut := &limitedBuffer{max: lsofMaxStderr}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = out, errOut
	cmd.WaitDelay = lsofWaitDelay
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("running lsof: no answer within %v: %w", s.timeout, ctx.Err())
	}
	return lsofOutcome(err, out, errOut.buf.String())
}

// lsofOutcome decides what one finished lsof run says. lsof exits 1 both
// when nothing matched (no output, nothing on stderr) and when it refused
// its arguments (usage on stderr); any other nonzero exit, a signal, or
// output cut short (past the cap, or not ending in a newline, so the last
// pid or name may be a fragment) is a failure. Exit 1 after a complete
// listing is kept: lsof reports with it processes it could not inspect,
// and what it did print is true.
func lsofOutcome(runErr error, out *limitedBuffer, stderr string) ([]byte, error) {
	var exit *exec.ExitError
	switch {
	case runErr == nil:
	case !errors.As(runErr, &exit):
		return nil, fmt.Errorf("running lsof: %w", runErr)
	case exit.ExitCode() == 1 && out.buf.Len() == 0 && strings.TrimSpace(stderr) == "":
		return nil, nil
	case exit.ExitCode() != 1 || out.buf.Len() == 0:
		return nil, fmt.Errorf("running lsof: %w%s", runErr, firstLine(stderr))
	}
	switch {
	case out.overflow:
		return nil, fmt.Errorf("running lsof: output over %d bytes", lsofMaxOutput)
	case out.buf.Len() > 0 && !bytes.HasSuffix(out.buf.Bytes(), []byte("\n")):
		return nil, errors.New("running lsof: output ends inside a record")
	}
	return out.buf.Bytes(), nil
}

// firstLine is ": " and the first line of an error output, or "".
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if line == "" {
		return ""
	}
	return ": " + line
}

// limitedBuffer keeps the first max bytes, discards the rest and remembers
// that it did, so a runaway child cannot grow our memory and a cut output
// is never taken for a whole one.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	room := l.max - l.buf.Len()
	if len(p) > room {
		l.overflow = true
	}
	l.buf.Write(p[:min(len(p), max(room, 0))])
	return len(p), nil
}

// ParseLsof reads lsof's field output (-F) into one listener per (pid,
// name). It is tolerant by design: it skips field letters it does not use
// (macOS's lsof always adds f, the descriptor), lines it cannot read, and
// names that are not address:port. IPv6 addresses come bracketed
// ("[::1]:9401"); the wildcard is "*".
func ParseLsof(out []byte) []pidListener {
	var ls []pidListener
	pid := 0
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		val := line[1:]
		switch line[0] {
		case 'p':
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				pid = 0 // names until the next p belong to nobody we know
				continue
			}
			pid = n
		case 'n':
			host, port, ok := splitLsofName(val)
			if ok && pid > 0 {
				ls = append(ls, pidListener{PID: pid, Host: host, Port: port})
			}
		}
	}
	return ls
}

// splitLsofName splits "127.0.0.1:9401", "*:9401" or "[::1]:9401". A
// connected socket's name ("a:1->b:2") is not a listener and is refused.
func splitLsofName(name string) (host string, port int, ok bool) {
	if strings.Contains(name, "->") {
		return "", 0, false
	}
	i := strings.LastIndexByte(name, ':')
	if i <= 0 {
		return "", 0, false
	}
	host = name[:i]
	if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") {
		return "", 0, false
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil || p < 1 || p > maxPort {
		return "", 0, false
	}
	return host, p, true
}

// darwinLsof is where macOS ships lsof. A CLI started from a GUI app or a
// launchd job often has a PATH without /usr/sbin, so it is tried there too.
const darwinLsof = "/usr/sbin/lsof"

// platformLsof is the fallback path of lsof on this OS; "" where lsof has
// no fixed home.
func platformLsof() string {
	if runtime.GOOS == "darwin" {
		return darwinLsof
	}
	return ""
}

// path finds lsof on PATH, or at the fallback path.
func (s lsofSource) path() (string, error) {
	path, err := exec.LookPath("lsof")
	if err == nil {
		return path, nil
	}
	if s.fallback != "" {
		if fi, statErr := os.Stat(s.fallback); statErr == nil && fi.Mode().IsRegular() {
			return s.fallback, nil
		}
	}
	return "", fmt.Errorf("finding lsof: %w", err)
}
