package cli

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

type doctorOptions struct {
	JSON, Reset, Force bool
}

func newDoctorCmd(ios *IOStreams) *cobra.Command {
	var opts doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor [--json] [--reset [--force]]",
		Short: "Show every listener of the sync range and clean stale daemons",
		Long: `Scan ports 9400-9449, classify every listener and show the result.
Without --reset nothing is changed.

Classes:
  safe_auto          a stale daemon of this scope: --reset stops it
  operator_required  probably ours but not provably (pre_marker, cross_root,
                     unresponsive, missing_pid, pid_port_mismatch):
                     --reset --force stops it
  never_touch        the live daemon, a dashboard or another program: never
                     stopped by any command

--reset stops safe_auto daemons and reports exactly what was swept, skipped
and failed; on a terminal it asks before stopping operator_required ones.
--force stops operator_required ones without asking.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Force && !opts.Reset {
				return usagef("--force only applies with --reset")
			}
			return runDoctor(cmd, ios, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON (schema_version 2)")
	cmd.Flags().BoolVar(&opts.Reset, "reset", false, "stop safe_auto daemons (and operator_required ones with --force)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "with --reset: also stop operator_required daemons")
	return cmd
}

func runDoctor(cmd *cobra.Command, ios *IOStreams, opts doctorOptions) error {
	if err := checkListenerSource(); err != nil {
		return err
	}
	ctx := cmd.Context()
	l, err := paths.Peek() // read-only: never create the root
	if opts.Reset {
		l, err = layout()
	}
	if err != nil {
		return fmt.Errorf("resolving runtime root: %w", err)
	}
	if opts.Reset {
		// A reset scans and acts under the scope lock, so it never meets a
		// daemon that ensure-running spawned but has not recorded yet.
		unlock, err := lifecycle.Lock(ctx, l.LockFile())
		if err != nil {
			return err
		}
		defer unlock()
	}
	exe, _ := lifecycle.ResolvedExecutable()
	scan, err := doctor.ScanScope(ctx, l, version.Current(), exe)
	if err != nil {
		return err
	}
	rep := doctor.Report(ctx, scan)
	if !opts.JSON {
		printReport(ios, rep)
	}
	if opts.Reset {
		ro := doctor.ResetOptions{Force: opts.Force, Actor: cleanup.ActorDoctorReset}
		if !opts.JSON && ios.InTTY && ios.OutTTY {
			ro.Confirm = func(ops []api.IdentityRecord) bool { return confirm(ios, ops) }
			ro.Progress = func(port int, outcome string) {
				fmt.Fprintf(ios.ErrOut, "  port %d: %s\n", port, outcome)
			}
			if n := len(rep.Orphans); n > 0 {
				fmt.Fprintf(ios.ErrOut, "stopping up to %d daemon(s)…\n", n)
			}
		}
		res := doctor.Reset(ctx, scan, ro)
		rep.ResetResult = &res
	}
	if opts.JSON {
		if err := writeJSON(ios.Out, rep); err != nil {
			return err
		}
	} else if rep.ResetResult != nil {
		printReset(ios, *rep.ResetResult)
	}
	if rep.ResetResult != nil && len(rep.ResetResult.Failed) > 0 {
		return silentError{ExitError}
	}
	return nil
}

// confirm asks once whether to stop the operator_required daemons too.
func confirm(ios *IOStreams, ops []api.IdentityRecord) bool {
	fmt.Fprintf(ios.ErrOut, "%d daemon(s) need your decision:\n", len(ops))
	for _, r := range ops {
		fmt.Fprintf(ios.ErrOut, "  pid %s port %d: %s\n", optInt(r.PID), r.Port, r.Reason)
	}
	fmt.Fprint(ios.ErrOut, "Stop them too? [y/N] ")
	line, _ := bufio.NewReader(io.LimitReader(ios.In, 1024)).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

func printReport(ios *IOStreams, rep api.DoctorReport) {
	w := ios.Out
	fmt.Fprintf(w, "scope: %s\n", rep.AuthRoot)
	fmt.Fprintf(w, "platform: %s, listener source %s\n", rep.Platform.OS, rep.Platform.ListenerSource)
	switch d := rep.Daemon; {
	case d.PID == nil:
		fmt.Fprintln(w, "sync daemon: none recorded")
	case d.Active:
		fmt.Fprintf(w, "sync daemon: pid %d on port %d, version %s (healthy)\n", *d.PID, *d.Port, optStr(d.PackageVersion))
	default:
		fmt.Fprintf(w, "sync daemon: pid %d on port %d recorded but not healthy\n", *d.PID, *d.Port)
	}
	all := append(append([]api.IdentityRecord{}, rep.Orphans...), rep.OtherListeners...)
	if len(all) == 0 {
		fmt.Fprintf(w, "listeners in %d-%d: none\n", api.SyncRange.Lo, api.SyncRange.Hi-1)
	} else {
		sortByPort(all)
		tw := table(ios)
		fmt.Fprintln(tw, "PID\tPORT\tVERSION\tCLASS\tREASON")
		for _, r := range all {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", optInt(r.PID), r.Port, optStr(r.PackageVersion), r.CleanupClass, r.Reason)
		}
		tw.Flush()
	}
	for _, f := range rep.Findings {
		if f.Severity != "info" {
			fmt.Fprintf(w, "%s: %s\n  next: %s\n", f.Severity, f.Summary, f.Remediation.Command)
		}
	}
}

func printReset(ios *IOStreams, res api.ResetResult) {
	w := ios.Out
	for _, s := range res.Swept {
		fmt.Fprintf(w, "swept   pid %d port %d version %s (%s, %s)\n", s.PID, s.Port, optStr(s.PackageVersion), s.Reason, s.CleanupPath)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped pid %s port %d %s (%s)\n", optInt(s.PID), s.Port, s.CleanupClass, s.SkipReason)
	}
	for _, f := range res.Failed {
		fmt.Fprintf(w, "failed  pid %s port %d %s: %s\n", optInt(f.PID), f.Port, f.CleanupClass, f.FailureReason)
	}
	fmt.Fprintf(w, "reset: %d swept, %d skipped, %d failed\n", len(res.Swept), len(res.Skipped), len(res.Failed))
	if len(res.Skipped) > 0 {
		fmt.Fprintf(w, "%d operator_required daemon(s) left running; to stop them too: %s\n", len(res.Skipped), doctor.CmdResetForce)
	}
}

// table aligns columns for a person and writes plain tab-separated rows for
// a script.
func table(ios *IOStreams) flushWriter {
	if ios.OutTTY {
		return tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
	}
	return plainRows{ios.Out}
}

type flushWriter interface {
	io.Writer
	Flush() error
}

// plainRows writes rows as they come: tab-separated, for scripts.
type plainRows struct{ io.Writer }

func (plainRows) Flush() error { return nil }

func sortByPort(rs []api.IdentityRecord) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Port < rs[j].Port })
}

func optInt(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func optStr(p *string) string {
	if p == nil || *p == "" {
		return "-"
	}
	return *p
}
