package classify

import "strings"

// The spawn-shape contract (SPEC §4.1, §11). The spawner builds argv from
// these names and the classifier recognises them, so both live here.
const (
	// SyncDaemonArg is argv[1] of a Go sync daemon: the production spawn
	// signature.
	SyncDaemonArg = "__sync-daemon"
	// DashboardDaemonArg is argv[1] of a dashboard daemon.
	DashboardDaemonArg = "__dashboard-daemon"
	// MarkerFlag is the scope marker, the primary kill authority.
	MarkerFlag = "--spec-kitty-daemon-root"
	// ExecFlag records the spawning executable: evidence only.
	ExecFlag = "--spec-kitty-daemon-exec"
)

// legacyEntryPoint is the function a Python daemon's -c script calls; its
// presence in the script is what makes the Python argv a sync daemon.
const legacyEntryPoint = "run_sync_daemon"

// Shape is what a command line says about a process.
type Shape struct {
	// OK reports whether argv is sync spawn-shaped: the Go signature or the
	// legacy Python shape.
	OK bool
	// Legacy reports whether argv has the Python implementation's shape.
	Legacy bool
	// Marker is the value of --spec-kitty-daemon-root; HasMarker reports
	// whether a non-empty one was given.
	Marker    string
	HasMarker bool
	// Exec is the value of --spec-kitty-daemon-exec, when given.
	Exec string
}

// SpawnShape parses a command line against the spawn-shape contract. Flags
// are read after the signature (or after the Python script); on an argv
// that is not spawn-shaped they are still read, for reporting only.
func SpawnShape(argv []string) Shape {
	var s Shape
	flagsFrom := 1
	switch {
	case len(argv) >= 2 && argv[1] == SyncDaemonArg:
		s.OK, flagsFrom = true, 2
	default:
		if script, ok := legacyScriptIndex(argv); ok {
			s.OK, s.Legacy, flagsFrom = true, true, script+1
		}
	}
	if flagsFrom < len(argv) {
		s.Marker, s.HasMarker = flagValue(argv[flagsFrom:], MarkerFlag)
		s.Exec, _ = flagValue(argv[flagsFrom:], ExecFlag)
	}
	return s
}

// DashboardShape reports whether argv is a dashboard daemon's. A dashboard
// is never sync spawn-shaped, whatever else its argv carries.
func DashboardShape(argv []string) bool {
	return len(argv) >= 2 && argv[1] == DashboardDaemonArg
}

// legacyScriptIndex returns the index of the -c script of a Python sync
// daemon: `python[X[.Y]] [interpreter options] -c "<…run_sync_daemon…>" …`.
// It is strict on purpose: any other python process must stay third-party.
func legacyScriptIndex(argv []string) (int, bool) {
	if len(argv) < 3 || !isPythonExe(argv[0]) {
		return 0, false
	}
	for i := 1; i < len(argv)-1; i++ {
		switch arg := argv[i]; {
		case arg == "-c":
			return i + 1, strings.Contains(argv[i+1], legacyEntryPoint)
		case arg == "-W" || arg == "-X":
			i++ // these interpreter options take a separate value
		case !strings.HasPrefix(arg, "-") || arg == "-" || arg == "-m":
			// A script file, stdin or a module runs instead of -c.
			return 0, false
		}
	}
	return 0, false
}

// isPythonExe reports whether an argv[0] names a Python interpreter:
// python, python3, python3.11, or Windows' console-less pythonw, with an
// optional .exe, under any directory.
func isPythonExe(argv0 string) bool {
	base := argv0[strings.LastIndexAny(argv0, `/\`)+1:]
	base = strings.TrimSuffix(strings.ToLower(base), ".exe")
	rest, ok := strings.CutPrefix(base, "python")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "w")
	for _, r := range rest {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

// flagValue returns the value of flag in args, in either the `--flag=v` or
// the `--flag v` form. The last one wins because that is what the daemon's
// own flag parser believes; an empty value counts as no flag at all, since it
// names no scope. Parsing stops at "--".
func flagValue(args []string, flag string) (string, bool) {
	var val string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			break
		}
		rest, ok := strings.CutPrefix(arg, flag)
		switch {
		case !ok:
		case strings.HasPrefix(rest, "="):
			val = rest[1:]
		case rest == "" && i+1 < len(args):
			i++
			val = args[i]
		}
	}
	return val, val != ""
}
