package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

func newSyncCmd(io *IOStreams) *cobra.Command {
	cmd := groupCmd("sync", "Run and inspect the per-user sync daemon")
	cmd.AddCommand(newSyncStartCmd(io), newSyncStatusCmd(io), newSyncStopCmd(io), newSyncPublishCmd(io))
	return cmd
}

// ensureOptions are the ensure-running options of this CLI.
func ensureOptions() (lifecycle.Options, error) {
	if err := checkListenerSource(); err != nil {
		return lifecycle.Options{}, err
	}
	l, err := layout()
	if err != nil {
		return lifecycle.Options{}, err
	}
	exe, err := lifecycle.ResolvedExecutable()
	if err != nil {
		return lifecycle.Options{}, err
	}
	return lifecycle.Options{
		Layout:  l,
		Version: version.Current(),
		Exe:     exe,
		Intent:  lifecycle.IntentSync,
		Reaper:  doctor.StartupReaper(version.Current(), exe),
	}, nil
}

func newSyncStartCmd(io *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the sync daemon, or reuse the healthy one",
		Long: `Start the scope's sync daemon, or reuse it when it is healthy and of this
version. Stale daemons of this scope are cleaned first; nothing else is
touched. Skipped when SPEC_KITTY_SYNC_DISABLE=1.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := ensureOptions()
			if err != nil {
				return err
			}
			res, err := lifecycle.EnsureRunning(cmd.Context(), opts)
			if err != nil {
				if asJSON {
					_ = writeJSON(io.Out, res)
				}
				return fmt.Errorf("starting sync daemon: %w", err)
			}
			if asJSON {
				return writeJSON(io.Out, res)
			}
			notes(io, res.Notes)
			printStart(io, res)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func printStart(io *IOStreams, res api.StartResult) {
	for _, r := range res.Reaped {
		fmt.Fprintf(io.ErrOut, "cleaned stale daemon pid %d on port %d (%s, %s)\n", r.PID, r.Port, r.Reason, r.CleanupPath)
	}
	switch {
	case res.SkippedReason != nil:
		fmt.Fprintf(io.Out, "sync daemon not started: %s\n", *res.SkippedReason)
	case res.Reused:
		fmt.Fprintf(io.Out, "sync daemon running (reused): pid %d, %s, version %s\n", res.PID, res.URL, res.PackageVersion)
	default:
		fmt.Fprintf(io.Out, "sync daemon started: pid %d, %s, version %s\n", res.PID, res.URL, res.PackageVersion)
	}
}

func newSyncStatusCmd(io *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the recorded sync daemon and its queue",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			res := lifecycle.Status(cmd.Context(), l)
			if asJSON {
				return writeJSON(io.Out, res)
			}
			notes(io, res.Notes)
			if res.Healthy {
				fmt.Fprintf(io.Out, "sync daemon: healthy, pid %d, %s, version %s\n", *res.PID, *res.URL, *res.PackageVersion)
			} else {
				fmt.Fprintln(io.Out, "sync daemon: not running")
			}
			last := "never"
			if res.Sync.LastSync != nil {
				last = res.Sync.LastSync.Local().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(io.Out, "queue: %d event(s) waiting; last sync: %s; consecutive failures: %d\n",
				res.Sync.QueueDepth, last, res.Sync.ConsecutiveFailures)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func newSyncStopCmd(io *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the recorded sync daemon",
		Long:  "Ask the recorded sync daemon to exit gracefully; queued events stay in the queue.",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			rec, err := lifecycle.Stop(cmd.Context(), l)
			if errors.Is(err, lifecycle.ErrNotRecorded) {
				fmt.Fprintf(io.Out, "sync daemon not running: %v\n", err)
				return nil
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "sync daemon stopped: pid %d on port %d\n", rec.PID, rec.Port)
			return nil
		},
	}
}
