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
// and takes tens of milliseconds on a laptop; a second leaves room for a
// loaded machine while keeping a hung lsof (a stuck NFS mount) from
// stalling the command: the scan then goes on without pids.
const lsofTimeout = time.Second

// lsofMaxOutput bounds what is read from lsof: a range of 50 ports with a
// few pids each is a few kilobytes.
const lsofMaxOutput = 1 << 20

// lsofArgs asks for the TCP listeners of one port range, in lsof's field
// output: p (pid), c (command) and n (name: address:port) per socket.
func lsofArgs(lo, hi int) []string {
	return []string{"-nP", fmt.Sprintf("-iTCP:%d-%d", lo, hi), "-sTCP:LISTEN", "-F", "pcn"}
}

// lsofListeners runs lsof over the span of ports. lsof exits 1 with no
// output when nothing matches, which is an empty answer, not a failure.
func lsofListeners(ctx context.Context, ports []int) ([]pidListener, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	path, err := lsofPath()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, lsofTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, path, lsofArgs(slices.Min(ports), slices.Max(ports))...)
	cmd.Stdout = &limitedBuffer{buf: &out, max: lsofMaxOutput}
	cmd.Stderr = &limitedBuffer{buf: &errOut, max: 4096}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 1 && out.Len() == 0:
		return nil, nil
	case errors.As(err, &exit) && out.Len() > 0:
		// lsof also exits 1 when some process could not be inspected;
		// what it did print is still true.
	default:
		return nil, fmt.Errorf("running lsof: %w %s", err, strings.TrimSpace(errOut.String()))
	}
	return ParseLsof(out.Bytes()), nil
}

// limitedBuffer keeps the first max bytes and discards the rest, so a
// runaway child cannot grow our memory.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
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

// lsofPath finds lsof on PATH, or where the OS ships it.
func lsofPath() (string, error) {
	path, err := exec.LookPath("lsof")
	if err == nil {
		return path, nil
	}
	if runtime.GOOS == "darwin" {
		if fi, statErr := os.Stat(darwinLsof); statErr == nil && fi.Mode().IsRegular() {
			return darwinLsof, nil
		}
	}
	return "", fmt.Errorf("finding lsof: %w", err)
}
