package classify

import (
	"fmt"
	"strconv"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// Test fixtures: one foreground scope and realistic evidence around it.
const (
	homeScope    = "/home/u/.spec-kitty"
	foreignScope = "/home/other/.spec-kitty"
	currentExe   = "/usr/local/bin/spec-kitty"
	currentVer   = "3.2.4"
	pythonExe    = "/usr/bin/python3"
	legacyScript = "import sys; from specify_cli.sync.daemon import run_sync_daemon; run_sync_daemon(port=int(sys.argv[1]))"
)

// here is the scope of the CLI under test; its recorded singleton is
// pid 4000 on 9400.
var here = Scope{
	ID:             homeScope,
	SingletonPID:   4000,
	SingletonPort:  9400,
	CurrentVersion: currentVer,
	CurrentExe:     currentExe,
}

func markerArg(root string) string { return MarkerFlag + "=" + root }
func execArg(exe string) string    { return ExecFlag + "=" + exe }

// goArgv is the production spawn shape with extra flags.
func goArgv(port int, flags ...string) []string {
	return append([]string{currentExe, SyncDaemonArg, "--port=" + strconv.Itoa(port)}, flags...)
}

// legacyArgv is the Python implementation's shape with extra flags.
func legacyArgv(flags ...string) []string {
	return append([]string{pythonExe, "-c", legacyScript}, flags...)
}

// goHealthJSON is a health answer as the Go daemon writes it (SPEC §4.2).
func goHealthJSON(pid, port int, version string) string {
	return fmt.Sprintf(`{
  "status": "ok", "daemon_family": "sync", "singleton_scope_id": %q, "scope_marker": %[1]q,
  "protocol_version": 1, "package_version": %q,
  "sync": {"running": false, "last_sync": null, "consecutive_failures": 0, "queue_depth": 0},
  "owner": {"pid": %d, "port": %d, "package_version": %q,
    "executable_path": %q, "server_url": "https://sk.example.com",
    "auth_principal": "u@example.com", "auth_team": "t",
    "auth_scope": "https://sk.example.com|u@example.com|t",
    "queue_db_path": "/home/u/.spec-kitty/queue.db",
    "started_at": "2026-06-30T10:40:00Z"}
}`, homeScope, version, pid, port, version, currentExe)
}

// legacyHealthJSON is the Python daemon's answer: a token, no family, no
// owner block.
func legacyHealthJSON(port int) string {
	return fmt.Sprintf(`{"status": "ok", "port": %d, "token": "0123abcd", "package_version": "3.1.0", "protocol_version": 1}`, port)
}

func dashboardHealthJSON(pid, port int) string {
	return fmt.Sprintf(`{"status": "ok", "daemon_family": "dashboard", "project_path": "/src/app",
  "protocol_version": 1, "package_version": "3.2.4", "owner": {"pid": %d, "port": %d}}`, pid, port)
}

// mustParse runs the real parser so fixtures have exactly the shape a
// probe would hand over.
func mustParse(body string) (*api.Health, []string) {
	h, keys, err := api.ParseHealth([]byte(body))
	if err != nil {
		panic(err)
	}
	return h, keys
}

// goDaemon is a healthy Go daemon of this scope, as fully probed.
func goDaemon(pid, port int, version string) Evidence {
	h, keys := mustParse(goHealthJSON(pid, port, version))
	return Evidence{
		Port: port, PID: pid, UID: 1000, StartTime: 123456,
		Argv:         goArgv(port, markerArg(homeScope), execArg(currentExe)),
		ArgvReadable: true, Exe: currentExe,
		HTTPAnswered: true, Health: h, HealthRawFields: keys,
	}
}

// legacyDaemon is a healthy Python daemon with the given flags.
func legacyDaemon(pid, port int, flags ...string) Evidence {
	h, keys := mustParse(legacyHealthJSON(port))
	return Evidence{
		Port: port, PID: pid, UID: 1000, StartTime: 123456,
		Argv: legacyArgv(flags...), ArgvReadable: true, Exe: pythonExe,
		HTTPAnswered: true, Health: h, HealthRawFields: keys,
	}
}

// dashboardDaemon is a dashboard, by argv and by health.
func dashboardDaemon(pid, port int) Evidence {
	h, keys := mustParse(dashboardHealthJSON(pid, port))
	return Evidence{
		Port: port, PID: pid, UID: 1000, StartTime: 123456,
		Argv:         []string{currentExe, DashboardDaemonArg, "--port=" + strconv.Itoa(port), "--project=/src/app"},
		ArgvReadable: true, Exe: currentExe,
		HTTPAnswered: true, Health: h, HealthRawFields: keys,
	}
}

// with returns a copy of ev changed by each mutation.
func with(ev Evidence, muts ...func(*Evidence)) Evidence {
	ev.Argv = append([]string(nil), ev.Argv...)
	if ev.Health != nil {
		h := *ev.Health
		if h.Owner != nil {
			o := *h.Owner
			h.Owner = &o
		}
		ev.Health = &h
	}
	for _, m := range muts {
		m(&ev)
	}
	return ev
}

// noHealth drops the health answer, as when the port is wedged.
func noHealth(ev *Evidence) { ev.Health, ev.HealthRawFields = nil, nil }

func wedged(ev *Evidence) { noHealth(ev); ev.Wedged, ev.HTTPAnswered = true, false }

func unreadableArgv(ev *Evidence) { ev.Argv, ev.ArgvReadable, ev.Exe = nil, false, "" }

func argv(a ...string) func(*Evidence) {
	return func(ev *Evidence) { ev.Argv, ev.ArgvReadable = a, true }
}

func healthBody(body string) func(*Evidence) {
	return func(ev *Evidence) { ev.Health, ev.HealthRawFields = mustParse(body) }
}
