// Package dashboard is the dashboard family (SPEC §11): a per-project local
// web server on the first free port of [9237, 9337), its start/reuse/stop
// lifecycle, and its own startup cleanup, which removes only orphaned
// dashboards of that range. It runs with intent local_only: nothing here
// starts, requires or signals a sync daemon. The page shows the scope's sync
// daemon and the classified listeners of the sync range, read-only.
package dashboard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
)

// Spawn-shape names (SPEC §11): the spawner builds the argv from them and
// the startup cleanup recognises a dashboard by them.
const (
	// DaemonCommand is argv[1] of a dashboard daemon.
	DaemonCommand = classify.DashboardDaemonArg
	// FlagPort carries the port to listen on.
	FlagPort = lifecycle.FlagPort
	// FlagProject carries the project's absolute directory.
	FlagProject = "--project="
)

// Files under a project.
const (
	// MetaDir holds the project's Spec Kitty metadata.
	MetaDir = ".kittify"
	// StateName is the 4-line url/port/token/pid record of the project's
	// dashboard (the sync daemon's format, shared with the Python CLI).
	StateName = ".dashboard"
	// LockName serialises every start and stop of one project's dashboard.
	LockName = ".dashboard.lock"
	// LogName receives the dashboard daemon's output.
	LogName = "dashboard.log"
)

// StateFile is <project>/.kittify/.dashboard.
func StateFile(project string) string { return filepath.Join(project, MetaDir, StateName) }

// LockFile is <project>/.kittify/.dashboard.lock.
func LockFile(project string) string { return filepath.Join(project, MetaDir, LockName) }

// LogFile is <project>/.kittify/dashboard.log.
func LogFile(project string) string { return filepath.Join(project, MetaDir, LogName) }

// Argv is the production argv of a dashboard daemon (without argv[0]).
func Argv(port int, project string) []string {
	return []string{DaemonCommand, FlagPort + strconv.Itoa(port), FlagProject + project}
}

// ErrNoProject reports a --project that is not an existing directory.
var ErrNoProject = errors.New("not a directory")

// ResolveProject returns dir as an absolute, symlink-resolved path of an
// existing directory: the one spelling of a project that the argv, the
// health answer and the cleanup compare.
func ResolveProject(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving project %s: %w", dir, err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("project %s: %w", abs, ErrNoProject)
		}
		return "", fmt.Errorf("resolving project %s: %w", abs, err)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", fmt.Errorf("project %s: %w", resolved, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("project %s: %w", resolved, ErrNoProject)
	}
	return resolved, nil
}
