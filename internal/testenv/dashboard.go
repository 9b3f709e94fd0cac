//go:build linux

package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/dashboard"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// NewProject returns a fresh, symlink-resolved project directory under the
// test's temp dir, with the .kittify/config.yaml that makes it a spec-kitty
// project (`spec-kitty dashboard` refuses a directory without one). Every
// dashboard daemon whose argv names it (or a directory below it) is killed
// by PID when the test ends, including ones that `spec-kitty dashboard`
// started.
func (e *Env) NewProject() string {
	e.t.Helper()
	dir, err := filepath.EvalSymlinks(e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { KillDashboards(e.t, dir) })
	if err := os.MkdirAll(filepath.Join(dir, dashboard.MetaDir), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, dashboard.MetaDir, "config.yaml"), []byte(ProjectConfig), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// ProjectConfig is the .kittify/config.yaml NewProject writes.
const ProjectConfig = "project:\n  uuid: 550e8400-e29b-41d4-a716-446655440000\n  slug: live-test\n"

// DashboardOpts shape a dashboard daemon started directly in the
// production argv `__dashboard-daemon --port=<N> --project=<dir>`.
type DashboardOpts struct {
	Port int
	// Project is the project directory; "" means a new one.
	Project string
	// Version is SPEC_KITTY_CLI_VERSION; "" for the build's own.
	Version string
	// Record writes <project>/.kittify/.dashboard naming the daemon, as
	// `spec-kitty dashboard` does: a live dashboard. Without it the
	// dashboard is an orphan that no project records.
	Record bool
}

// SpawnDashboard starts a real dashboard daemon and waits until it answers
// health as a dashboard with its own pid.
func (e *Env) SpawnDashboard(o DashboardOpts) *Proc {
	e.t.Helper()
	project := o.Project
	if project == "" {
		project = e.NewProject()
	}
	argv := append([]string{Bin()}, dashboard.Argv(o.Port, project)...)
	env := e.Environ()
	if o.Version != "" {
		env = append(env, "SPEC_KITTY_CLI_VERSION="+o.Version)
	}
	token := spawn.NewToken()
	p := e.start(Bin(), argv, env, token+"\n", o.Port)
	p.Token = token
	e.waitDashboard(p, project)
	if o.Record {
		rec := statefile.Record{URL: client.URL(o.Port), Port: o.Port, Token: token, PID: p.PID}
		if err := os.MkdirAll(filepath.Join(project, dashboard.MetaDir), 0o700); err != nil {
			e.t.Fatal(err)
		}
		if err := statefile.Write(dashboard.StateFile(project), rec); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

func (e *Env) waitDashboard(p *Proc, project string) {
	e.t.Helper()
	ok := poll(readyWait, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h, err := client.New(p.Port).Health(ctx)
		return p.Exited() || (err == nil && h.DaemonFamily == api.FamilyDashboard &&
			h.ProjectPath == project && h.Owner != nil && h.Owner.PID == p.PID)
	})
	if !ok || p.Exited() {
		e.t.Fatalf("dashboard %v on port %d not healthy within %v (exited: %v)", p.Argv, p.Port, readyWait, p.Exited())
	}
}

// DashboardPIDs lists live dashboard daemons (argv[1] `__dashboard-daemon`)
// whose --project is under (or is) dir.
func DashboardPIDs(dir string) []int {
	return PIDsWhere(func(argv []string) bool {
		if len(argv) < 2 || argv[1] != dashboard.DaemonCommand {
			return false
		}
		for _, a := range argv[2:] {
			project, ok := strings.CutPrefix(a, dashboard.FlagProject)
			if ok && (project == dir || strings.HasPrefix(project, dir+string(filepath.Separator))) {
				return true
			}
		}
		return false
	})
}

// KillDashboards kills, by PID, every dashboard daemon of a project under
// dir (a test's private temp dir, so only the test's own dashboards), and
// waits until they are gone.
func KillDashboards(t testing.TB, dir string) {
	for _, pid := range DashboardPIDs(dir) {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Signal(syscall.SIGCONT)
			_ = p.Kill()
		}
		if !WaitExited(pid, readyWait) {
			t.Errorf("cleanup: dashboard pid %d of %s survived SIGKILL", pid, dir)
		}
	}
}

// ReadDashboardRecord reads a project's .dashboard.
func ReadDashboardRecord(project string) (statefile.Record, error) {
	return statefile.Read(dashboard.StateFile(project))
}

// DashboardPortString is the --port= argument of a dashboard on port.
func DashboardPortString(port int) string { return dashboard.FlagPort + strconv.Itoa(port) }
