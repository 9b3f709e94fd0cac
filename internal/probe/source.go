package probe

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
)

// EnvListenerSource names the environment variable that overrides where the
// scan learns which pid holds a port (SPEC §8 Platforms, §13).
const EnvListenerSource = "SPEC_KITTY_LISTENER_SOURCE"

// Listener source names, as SPEC §8 spells them.
const (
	SourceAuto     = "auto"
	SourceSockDiag = "sock_diag"
	SourceProcfs   = "procfs"
	SourceLsof     = "lsof"
	SourceIPHlpAPI = "iphlpapi"
	SourceNone     = "none"
)

// ValidSources lists the values SPEC_KITTY_LISTENER_SOURCE may take on goos,
// "auto" first.
func ValidSources(goos string) []string {
	switch goos {
	case "linux":
		return []string{SourceAuto, SourceSockDiag, SourceProcfs, SourceLsof, SourceNone}
	case "windows":
		return []string{SourceAuto, SourceIPHlpAPI, SourceNone}
	}
	// macOS and the BSDs: lsof is the only listener source.
	return []string{SourceAuto, SourceLsof, SourceNone}
}

// SourceError is a listener source that this platform does not have. The
// CLI maps it to a usage error (exit 2).
type SourceError struct {
	Value string
	Valid []string
}

func (e *SourceError) Error() string {
	return fmt.Sprintf("%s=%q is not a listener source on %s; valid values: %s",
		EnvListenerSource, e.Value, runtime.GOOS, strings.Join(e.Valid, ", "))
}

// SourceFromEnv validates SPEC_KITTY_LISTENER_SOURCE; unset or empty means
// auto.
func SourceFromEnv() (string, error) {
	return ParseSource(runtime.GOOS, os.Getenv(EnvListenerSource))
}

// ParseSource validates a listener source name for goos.
func ParseSource(goos, value string) (string, error) {
	if value == "" {
		return SourceAuto, nil
	}
	valid := ValidSources(goos)
	if !slices.Contains(valid, value) {
		return "", &SourceError{Value: value, Valid: valid}
	}
	return value, nil
}

// SourceReport says which listener source named the pids of one scan, and
// why it is not the one asked for when a source failed.
type SourceReport struct {
	// Name is the source actually used: sock_diag, procfs, lsof, iphlpapi
	// or none.
	Name string
	// Notes explain every fallback (sock_diag refused, lsof missing).
	Notes []string
}

// ownerFinder resolves the owners of one scan's listeners. A source of
// evidence is one implementation of it, chosen by name in newOwnerFinder.
type ownerFinder interface {
	// dialPorts narrows ports to those worth connecting to. A source
	// whose table is system-wide (the kernel's) may leave out ports where
	// nothing listens; any other source, or one that could not be read,
	// returns every port, so the "probe every port" guarantee holds.
	dialPorts(ports []int) []int
	// hinted tries the pids that probably own port and reports whether
	// the question is settled.
	hinted(port int, pids []int) (owner, bool)
	// rest answers every port no hint settled; every port is in the map.
	rest(ctx context.Context, ports []int) map[int]owner
	// report says which source answered; call it after rest.
	report() SourceReport
}

// newOwnerFinder is the one place that turns a source name into a source.
// An empty name means auto. A name this platform lacks is an error.
func newOwnerFinder(name string, ports []int) (ownerFinder, error) {
	name, err := ParseSource(runtime.GOOS, name)
	if err != nil {
		return nil, err
	}
	if name == SourceAuto {
		name = autoSource(runtime.GOOS)
	}
	switch name {
	case SourceLsof:
		return newPIDFinder(SourceLsof, ports, lsofListeners), nil
	case SourceNone:
		return noneFinder{}, nil
	}
	return newPlatformFinder(name, ports)
}

// autoSource is the source auto starts from on goos; each source falls back
// on its own when it fails (sock_diag to procfs, lsof or iphlpapi to none).
func autoSource(goos string) string {
	switch goos {
	case "linux":
		return SourceAuto // the kernel finder: sock_diag, then procfs
	case "windows":
		return SourceIPHlpAPI
	}
	return SourceLsof
}
