package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/dashboard"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/logfile"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

type dashboardOptions struct {
	Project    string
	Stop, JSON bool
}

func newDashboardCmd(ios *IOStreams) *cobra.Command {
	var opts dashboardOptions
	cmd := &cobra.Command{
		Use:   "dashboard [--project DIR] [--stop] [--json]",
		Short: "Start the project's local dashboard, or reuse the running one",
		Long: `Start a background web dashboard for a project (default: the current
directory) on the first free port of 127.0.0.1:9237-9336 and print its URL.
A healthy dashboard of the project is reused; --stop stops it. Its metadata
is <project>/.kittify/.dashboard. A directory without .kittify/config.yaml
is not a spec-kitty project: it is refused (exit 1) and nothing is created
in it.

The page shows this scope's sync daemon and every listener of the sync range
with its cleanup class, read-only, exactly as 'spec-kitty auth doctor' does.
The dashboard never starts, requires or stops a sync daemon.

Before starting, it stops orphaned dashboards of the range: dashboards whose
project directory is gone or whose project no longer records them. Nothing
else is touched.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkListenerSource(); err != nil {
				return err
			}
			return runDashboard(cmd, ios, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Project, "project", "", "project directory (default: the current directory)")
	cmd.Flags().BoolVar(&opts.Stop, "stop", false, "stop the project's dashboard")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func runDashboard(cmd *cobra.Command, ios *IOStreams, opts dashboardOptions) error {
	dir := opts.Project
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("finding the current directory: %w", err)
		}
		dir = wd
	}
	project, err := dashboard.ResolveProject(dir)
	if errors.Is(err, dashboard.ErrNoProject) {
		return usageError{fmt.Errorf("--project: %w", err)}
	}
	if err != nil {
		return err
	}
	if !opts.Stop {
		if err := requireProject(project); err != nil {
			return err
		}
	}
	l, err := layout()
	if err != nil {
		return err
	}
	journal := cleanup.NewJournal(l.Journal())
	if opts.Stop {
		return stopDashboard(cmd, ios, opts, project, journal)
	}
	exe, err := lifecycle.ResolvedExecutable()
	if err != nil {
		return err
	}
	res, err := dashboard.Start(cmd.Context(), dashboard.StartOptions{
		Project: project, Version: version.Current(), Exe: exe, Journal: journal,
	})
	if err != nil {
		if opts.JSON {
			_ = writeJSON(ios.Out, res)
		}
		return fmt.Errorf("starting dashboard: %w", err)
	}
	if opts.JSON {
		return writeJSON(ios.Out, res)
	}
	notes(ios, res.Notes)
	if res.Cleanup != nil {
		for _, s := range res.Cleanup.Swept {
			fmt.Fprintf(ios.ErrOut, "stopped orphaned dashboard pid %d on port %d (%s, %s)\n", s.PID, s.Port, s.Reason, s.CleanupPath)
		}
	}
	state := "started"
	if res.Reused {
		state = "running (reused)"
	}
	fmt.Fprintf(ios.Out, "dashboard %s: %s/ (pid %d, project %s)\n", state, res.URL, res.PID, res.ProjectPath)
	return nil
}

// requireProject refuses to start a dashboard for a directory that is not
// a spec-kitty project, before anything is created in it: a typo in
// --project must not leave a .kittify folder, a lock and a log behind.
// --stop skips the check, so a dashboard whose project lost its config can
// still be stopped.
func requireProject(project string) error {
	config := filepath.Join(project, dashboard.MetaDir, "config.yaml")
	if fi, err := os.Stat(config); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a spec-kitty project (no %s); run it in a project, or pass --project DIR", project, filepath.Join(dashboard.MetaDir, "config.yaml"))
	}
	return nil
}

func stopDashboard(cmd *cobra.Command, ios *IOStreams, opts dashboardOptions, project string, journal *cleanup.Journal) error {
	res, err := dashboard.Stop(cmd.Context(), project, journal)
	switch {
	case errors.Is(err, dashboard.ErrNotRunning):
		res.Notes = append(res.Notes, err.Error())
		if opts.JSON {
			return writeJSON(ios.Out, res)
		}
		fmt.Fprintf(ios.Out, "dashboard not running: %v\n", err)
		return nil
	case err != nil:
		if opts.JSON {
			_ = writeJSON(ios.Out, res)
		}
		return fmt.Errorf("stopping dashboard: %w", err)
	}
	if opts.JSON {
		return writeJSON(ios.Out, res)
	}
	notes(ios, res.Notes)
	fmt.Fprintf(ios.Out, "dashboard stopped: pid %d on port %d\n", *res.PID, *res.Port)
	return nil
}

// newDashboardDaemonCmd is the hidden dashboard spawn signature (SPEC §11):
// `__dashboard-daemon --port=<N> --project=<abs dir>`, token on stdin.
func newDashboardDaemonCmd(ios *IOStreams) *cobra.Command {
	var port int
	var project string
	cmd := &cobra.Command{
		Use:    dashboard.DaemonCommand,
		Short:  "Run a dashboard daemon (started by 'spec-kitty dashboard', not by hand)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !validPort(port) {
				return usagef("--port must be 1-65535, got %d", port)
			}
			if !filepath.IsAbs(project) {
				return usagef("--project must be an absolute directory, got %q", project)
			}
			resolved, err := dashboard.ResolveProject(project)
			if err != nil {
				return err
			}
			if resolved != project {
				return usagef("--project must be symlink-resolved: %s is %s", project, resolved)
			}
			l, err := layout()
			if err != nil {
				return err
			}
			exe, _ := lifecycle.ResolvedExecutable()
			logger, _, err := daemonLogger(dashboard.LogFile(project), "pid", os.Getpid(), "port", port, "family", api.FamilyDashboard)
			if err != nil {
				return err
			}
			defer logfile.Recover(logger)
			srv := dashboard.NewServer(dashboard.Config{
				Port:     port,
				Project:  project,
				Token:    readToken(ios.In),
				Version:  version.Current(),
				Exe:      exe,
				Overview: dashboard.SyncOverview(l, project, version.Current(), exe),
				Logger:   logger,
				Ready:    spawn.ReadyReporter(),
			})
			if err := srv.Run(cmd.Context()); err != nil {
				logger.Error("dashboard failed", "err", err, "family", api.FamilyDashboard)
				return err
			}
			dropEmptyCrash(dashboard.LogFile(project)) // one dashboard a project
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "loopback port to listen on")
	cmd.Flags().StringVar(&project, "project", "", "the project's absolute directory")
	return cmd
}
