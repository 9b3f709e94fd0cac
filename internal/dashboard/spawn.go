package dashboard

import (
	"context"
	"fmt"
	"os"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// start starts one dashboard on the first free port of the range, waits
// until it is healthy for this project and holds its token, and writes the
// project's .dashboard. The caller holds the project lock.
func start(ctx context.Context, opts StartOptions) (statefile.Record, error) {
	token := spawn.NewToken()
	port, pid, err := spawn.FirstFree(ctx, spawn.Request{
		Exe:     opts.Exe,
		Args:    func(port int) []string { return Argv(port, opts.Project) },
		Env:     append(os.Environ(), version.EnvCLIVersion+"="+opts.Version),
		LogPath: LogFile(opts.Project),
		Range:   api.DashboardRange,
		Token:   token,
		Healthy: func(h *api.Health, pid int) bool {
			return h.DaemonFamily == api.FamilyDashboard && h.ProjectPath == opts.Project &&
				h.Owner != nil && h.Owner.PID == pid
		},
	})
	if err != nil {
		return statefile.Record{}, fmt.Errorf("starting dashboard: %w", err)
	}
	rec := statefile.Record{URL: client.URL(port), Port: port, Token: token, PID: pid}
	if err := statefile.Write(StateFile(opts.Project), rec); err != nil {
		return rec, fmt.Errorf("recording the dashboard: %w", err)
	}
	return rec, nil
}
