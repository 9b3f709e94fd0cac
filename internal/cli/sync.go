package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/logfile"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

func newSyncCmd(io *IOStreams) *cobra.Command {
	cmd := groupCmd("sync", "Run and inspect the per-user sync daemon")
	cmd.AddCommand(newSyncStartCmd(io), newSyncStatusCmd(io), newSyncStopCmd(io), newSyncPublishCmd(io), newSyncLogsCmd(io), newSyncParkedCmd(io))
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
				return startError(err)
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

// startError words a failed start. A queue file the daemon cannot open
// gets its cause and the fix on the one line: move the file aside (its
// events stay in it) and start again, which makes a new queue.
func startError(err error) error {
	var qe *spawn.QueueError
	if errors.As(err, &qe) {
		return fmt.Errorf("starting sync daemon: %v; move it aside (mv %s %s.bad) and run spec-kitty sync start again: nothing is deleted, its events stay in the moved file",
			qe, shellQuote(qe.Path), shellQuote(qe.Path))
	}
	return fmt.Errorf("starting sync daemon: %w", err)
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
		Long: `Show the scope's recorded sync daemon: whether it is healthy, its queue
depth (read from the queue itself when no daemon runs), its upload health —
the last success, since when and how often uploads failed, the last upload
error in one line, and the next step — the log file, and why the daemon's
log could not be rotated when that failed. --json prints the upload fields
once, in "sync" (docs/schema/sync-status.schema.json), and
log_rotation_error.

Exit status 0 when a healthy daemon runs, 1 otherwise — also when the
runtime root or the state file cannot be read, which is reported with the
path and the error.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Read-only: a status check never creates the root.
			l, err := paths.Peek()
			if err != nil {
				return err // names the root and why it cannot be used
			}
			var res api.StatusResult
			if why := unreadable(l); why != "" {
				res = api.StatusResult{Notes: []string{}, Unreadable: &why}
			} else {
				res = lifecycle.Status(cmd.Context(), l)
			}
			res.LogPath = l.LogFile()
			if asJSON {
				if err := writeJSON(io.Out, res); err != nil {
					return err
				}
			} else {
				notes(io, res.Notes)
				printStatus(io, res)
				printStatusNext(io.Out, res, lifecycle.SyncDisabled())
				if res.Sync.Parked > 0 {
					fmt.Fprintln(io.ErrOut, "parked events are not uploaded; see them with: spec-kitty sync parked")
				}
			}
			if !res.Healthy {
				return silentError{ExitError}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// unreadable says why the runtime root or the state file of l cannot be
// read, or "" when they can (or do not exist: nothing has run yet). A
// status that cannot look must say so, never "not running".
func unreadable(l paths.Layout) string {
	root, err := os.Open(l.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err == nil {
		_, err = root.Readdirnames(1)
		root.Close()
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Sprintf("cannot read the runtime root %s: %v", l.Root, bareErr(err))
	}
	f, err := paths.Open(l.StateFile()) // a FIFO or a symlink is an error, never a hang
	if err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("cannot read the state file %s: %v", l.StateFile(), bareErr(err))
	}
	return ""
}

// bareErr drops the operation and path of a *fs.PathError, which the caller
// names itself.
func bareErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func printStatus(io *IOStreams, res api.StatusResult) {
	failing := doctor.UploadFailureLine(res.Sync)
	switch {
	case res.Unreadable != nil:
		fmt.Fprintf(io.Out, "sync daemon: unknown: %s\n", *res.Unreadable)
	case res.Healthy && failing != "":
		// Running is not healthy while nothing reaches the server.
		fmt.Fprintf(io.Out, "sync daemon: running, uploads failing; pid %d, %s, version %s\n", *res.PID, *res.URL, *res.PackageVersion)
	case res.Healthy:
		fmt.Fprintf(io.Out, "sync daemon: %s, pid %d, %s, version %s\n", outPalette(io).good("healthy"), *res.PID, *res.URL, *res.PackageVersion)
	case res.PID != nil:
		fmt.Fprintf(io.Out, "sync daemon: %s (recorded pid %d on port %d)\n", outPalette(io).bad("not healthy"), *res.PID, *res.Port)
	default:
		fmt.Fprintf(io.Out, "sync daemon: %s\n", outPalette(io).bad("not running"))
	}
	if res.Unreadable == nil {
		printUploads(io, res, failing)
	}
	fmt.Fprintf(io.Out, "log: %s (spec-kitty sync logs)\n", res.LogPath)
	if res.LogRotationError != nil {
		fmt.Fprintf(io.Out, "log rotation failed: %s (the log grows past 5 MiB until it works again)\n", *res.LogRotationError)
	}
	if failing != "" {
		fmt.Fprintf(io.Out, "next: %s; details: %s\n", doctor.UploadFailureAdvice, doctor.UploadFailureCommand(res.Sync))
	}
}

// printUploads prints the queue and the upload health (SPEC §10 *Upload
// health*): a failure is its own line, never folded into "healthy".
func printUploads(io *IOStreams, res api.StatusResult, failing string) {
	st := res.Sync
	parked := ""
	if st.Parked > 0 {
		parked = fmt.Sprintf(" (%d parked)", st.Parked)
	}
	fmt.Fprintf(io.Out, "queue: %s waiting%s\n", doctor.Plural(st.QueueDepth, "event"), parked)
	if failing != "" {
		fmt.Fprintf(io.Out, "uploads: %s\n", strings.TrimPrefix(failing, "uploads "))
	}
	if !res.Healthy {
		return // the rest is what a running daemon knows
	}
	success := "none since this daemon started"
	if st.LastSuccessAt != nil {
		success = doctor.FormatTime(*st.LastSuccessAt)
	}
	fmt.Fprintf(io.Out, "last success: %s; consecutive failures: %d\n", success, st.ConsecutiveFailures)
}

// printStatusNext ends the status of a scope with no healthy daemon with
// what to do next, as the doctor's findings do, and says when
// SPEC_KITTY_SYNC_DISABLE is why nothing started it.
func printStatusNext(w io.Writer, res api.StatusResult, disabled bool) {
	if res.Healthy || res.Unreadable != nil {
		return
	}
	switch {
	case disabled:
		fmt.Fprintf(w, "implicit start is off: %s=1 is set\n", lifecycle.EnvSyncDisable)
		fmt.Fprintf(w, "next: unset %s, then run spec-kitty sync start\n", lifecycle.EnvSyncDisable)
	case res.PID != nil:
		fmt.Fprintln(w, "next: spec-kitty auth doctor (what holds the recorded port), then spec-kitty sync start")
	default:
		fmt.Fprintf(w, "next: %s\n", doctor.CmdSyncStart)
	}
}

func newSyncStopCmd(io *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stop [--json]",
		Short: "Stop the recorded sync daemon",
		Long: `Ask the recorded sync daemon to exit gracefully; queued events stay in the
queue. A state file that names something no command may stop — pid 1, a
port outside 9400-9449, another user's process — is refused and left in
place, with what to check before removing it.

--json prints {"stopped", "pid", "port", "notes"}: stopped is false, and
pid and port null, when no daemon was recorded.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			rec, err := lifecycle.Stop(cmd.Context(), l)
			res := api.StopResult{Notes: []string{}}
			if rec.PID != 0 {
				res.PID, res.Port = &rec.PID, &rec.Port
			}
			switch {
			case errors.Is(err, lifecycle.ErrNotRecorded):
				res.PID, res.Port = nil, nil
				if asJSON {
					res.Notes = append(res.Notes, err.Error())
					return writeJSON(io.Out, res)
				}
				fmt.Fprintf(io.Out, "sync daemon not running: %v\n", err)
				return nil
			case err != nil:
				// A refusal or a failed stop: still one error line, and
				// for a script the record it was about.
				if asJSON {
					_ = writeJSON(io.Out, res)
				}
				return err
			}
			res.Stopped = true
			if asJSON {
				return writeJSON(io.Out, res)
			}
			fmt.Fprintf(io.Out, "sync daemon stopped: pid %d on port %d\n", rec.PID, rec.Port)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newSyncLogsCmd(ios *IOStreams) *cobra.Command {
	var lines int
	var follow, asJSON bool
	cmd := &cobra.Command{
		Use:   "logs [-n N] [-f] [--json]",
		Short: "Print the sync daemon's log",
		Long: `Print the last lines of this scope's sync daemon log, sync-daemon.log in the
runtime root. The file holds one JSON object a line; on a terminal each is
shown as "time level message key=value ...", with the level coloured
(unless NO_COLOR is set). Piped, or with --json, the JSON lines are printed
as they are. The log is rotated at 5 MiB into sync-daemon.log.1 and .2;
older lines are read from those when needed.

With -f, keep printing lines as they are written, across rotations, until
interrupted (Ctrl-C ends it with exit status 130). When no daemon has
written the log yet, -f says so and waits for it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lines < 0 {
				return usagef("-n must be 0 or more, got %d", lines)
			}
			l, err := paths.Peek()
			if err != nil {
				return fmt.Errorf("resolving runtime root: %w", err)
			}
			path := l.LogFile()
			got, err := logfile.Tail(path, lines)
			if err != nil {
				return fmt.Errorf("reading the daemon log: %w", err)
			}
			var out io.Writer = ios.Out
			if ios.OutTTY && !asJSON {
				out = &logLineWriter{w: ios.Out, pal: outPalette(ios)}
			}
			for _, line := range got {
				fmt.Fprintln(out, line)
			}
			// A crash no daemon has moved into the log yet is the line an
			// operator is most likely looking for.
			logfile.PendingCrash(out, path)
			_, statErr := os.Stat(path)
			missing := errors.Is(statErr, fs.ErrNotExist)
			if !follow {
				if missing {
					fmt.Fprintf(ios.ErrOut, "no daemon log yet at %s\n", path)
				}
				return nil
			}
			if missing {
				// Waiting in silence looks like a hang.
				fmt.Fprintf(ios.ErrOut, "waiting for %s (no daemon has written it yet)\n", path)
			}
			if err := logfile.Follow(cmd.Context(), path, out); err != nil {
				return fmt.Errorf("following the daemon log: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 50, "how many of the last lines to print")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines, across rotations")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the raw JSON lines, also on a terminal")
	return cmd
}
