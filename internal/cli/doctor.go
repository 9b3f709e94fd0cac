package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	JSON, Reset, Force, Verbose bool
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
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "with --reset on a terminal: also print the table of what was found")
	return cmd
}

func runDoctor(cmd *cobra.Command, ios *IOStreams, opts doctorOptions) error {
	if err := checkListenerSource(); err != nil {
		return err
	}
	ctx := cmd.Context()
	if !opts.Reset {
		l, err := paths.Peek() // read-only: never create the root
		if err != nil {
			return rootError(err)
		}
		exe, _ := lifecycle.ResolvedExecutable()
		scan, err := doctor.ScanScope(ctx, l, version.Current(), exe)
		if err != nil {
			return err
		}
		rep := doctor.Report(ctx, scan)
		if opts.JSON {
			return writeJSON(ios.Out, rep)
		}
		printReport(ios, rep)
		return nil
	}
	return runReset(ctx, ios, opts)
}

// runReset is `auth doctor --reset`. The y/N question is asked before the
// scope lock (a person may take minutes; every start and publish of the
// scope waits for that lock); after the answer it locks, scans again and
// acts only on the daemons whose pid and start time are unchanged (SPEC §8).
func runReset(ctx context.Context, ios *IOStreams, opts doctorOptions) error {
	l, err := layout()
	if err != nil {
		return err
	}
	exe, _ := lifecycle.ResolvedExecutable()
	interactive := !opts.JSON && ios.InTTY && ios.OutTTY
	ro := doctor.ResetOptions{Force: opts.Force, Actor: cleanup.ActorDoctorReset}
	if interactive && !opts.Force {
		pre, err := doctor.ScanScope(ctx, l, version.Current(), exe)
		if err != nil {
			return err
		}
		ro.Approved = map[doctor.Shown]bool{}
		if ops := pre.OperatorRequired(); len(ops) > 0 && confirm(ctx, ios, ops) {
			for _, r := range ops {
				ro.Approved[pre.Shown(r)] = true
			}
		}
	}
	if ctx.Err() != nil {
		return silentError{ExitInterrupted}
	}
	// The scan that decides runs under the scope lock, so it never meets a
	// daemon that ensure-running spawned but has not recorded yet.
	unlock, err := lifecycle.Lock(ctx, l.LockFile())
	if err != nil {
		return err
	}
	defer unlock()
	scan, err := doctor.ScanScope(ctx, l, version.Current(), exe)
	if err != nil {
		return err
	}
	rep := doctor.Report(ctx, scan)
	if !opts.JSON && (!interactive || opts.Verbose) {
		printReport(ios, rep)
	}
	if interactive {
		p := newProgress(ios.ErrOut)
		if n := scan.Plan(ro); n > 0 {
			fmt.Fprintf(ios.ErrOut, "stopping %s…\n", doctor.Plural(n, "daemon"))
		}
		ro.Step, ro.Progress = p.step, p.done
	}
	res := doctor.Reset(ctx, scan, ro)
	rep.ResetResult = &res
	if opts.JSON {
		if err := writeJSON(ios.Out, rep); err != nil {
			return err
		}
	} else {
		printReset(ios, res)
	}
	switch {
	case ctx.Err() != nil:
		return silentError{ExitInterrupted}
	case len(res.Failed) > 0:
		return silentError{ExitError}
	}
	return nil
}

// confirm asks once whether to stop the operator_required daemons too,
// one line per daemon with what the runbook advises for its reason. One
// Ctrl-C ends the question: the terminal has echoed ^C, so it ends the
// line and answers no; the caller sees the cancelled context and exits 130.
func confirm(ctx context.Context, ios *IOStreams, ops []api.IdentityRecord) bool {
	fmt.Fprintf(ios.ErrOut, "%s your decision:\n", doctor.PluralVerb(len(ops), "daemon", "needs", "need"))
	for _, r := range ops {
		fmt.Fprintln(ios.ErrOut, candidateLine(r))
	}
	fmt.Fprint(ios.ErrOut, "Stop them too? [y/N] ")
	answered := make(chan string, 1)
	go func() { // a read of a terminal cannot be cancelled; it is left behind
		line, _ := bufio.NewReader(io.LimitReader(ios.In, 1024)).ReadString('\n')
		answered <- line
	}()
	select {
	case line := <-answered:
		answer := strings.ToLower(strings.TrimSpace(line))
		return answer == "y" || answer == "yes"
	case <-ctx.Done():
		fmt.Fprintln(ios.ErrOut)
		return false
	}
}

// candidateLine is one operator_required daemon of the y/N question: its
// pid, port and reason, for cross_root the root it belongs to, and what
// the runbook advises before saying yes.
func candidateLine(r api.IdentityRecord) string {
	line := fmt.Sprintf("  pid %s port %d: %s", optInt(r.PID), r.Port, r.Reason)
	switch r.Reason {
	case api.SkipCrossRoot:
		root := optStr(r.SingletonScopeID)
		return line + fmt.Sprintf(" (root %s); better cleaned from its own scope: SPEC_KITTY_HOME=%s %s", root, shellQuote(root), doctor.CmdReset)
	case api.SkipPreMarker:
		return line + " (started by a version from before the scope marker); saying yes once is the usual fix"
	case api.SkipUnresponsive:
		return line + fmt.Sprintf(" (accepts connections, never answers health: stopped or hung?); look first: ps -o pid,stat,etime,args -p %s", optInt(r.PID))
	case api.SkipMissingPID:
		return line + " (the system would not name its process: probably another user's); it cannot be stopped from here"
	case api.SkipPIDPortMismatch:
		return line + " (health names another process than the one listening); look at both before you say yes"
	}
	return line
}

// shellQuote quotes s for a POSIX shell when it needs it, so a root with
// spaces can be pasted as it is shown.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>*?()[]{}#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// rootError keeps a trust refusal as its own one line.
func rootError(err error) error {
	var untrusted *paths.UntrustedError
	if errors.As(err, &untrusted) {
		return err
	}
	return fmt.Errorf("resolving runtime root: %w", err)
}

// hasFinding reports whether the report carries a finding with that id.
func hasFinding(rep api.DoctorReport, id string) bool {
	for _, f := range rep.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

func printReport(ios *IOStreams, rep api.DoctorReport) {
	w := ios.Out
	fmt.Fprintf(w, "scope: %s\n", rep.AuthRoot)
	fmt.Fprintf(w, "platform: %s, listener source %s\n", rep.Platform.OS, rep.Platform.ListenerSource)
	switch d := rep.Daemon; {
	case d.PID == nil:
		fmt.Fprintln(w, "sync daemon: none recorded")
	case d.Active:
		state := "healthy"
		if hasFinding(rep, doctor.FindingUploadsFailing) {
			state = "running, uploads failing" // never "healthy" alone (SPEC §10)
		}
		fmt.Fprintf(w, "sync daemon: pid %d on port %d, version %s (%s)\n", *d.PID, *d.Port, optStr(d.PackageVersion), state)
	default:
		fmt.Fprintf(w, "sync daemon: pid %d on port %d recorded but not healthy\n", *d.PID, *d.Port)
	}
	all := append(append([]api.IdentityRecord{}, rep.Orphans...), rep.OtherListeners...)
	if len(all) == 0 {
		fmt.Fprintf(w, "listeners in %d-%d: none\n", api.SyncRange.Lo, api.SyncRange.Hi-1)
	} else {
		sortByPort(all)
		printTable(ios, all)
	}
	pal := outPalette(ios)
	for _, f := range rankFindings(rep.Findings) {
		fmt.Fprintf(w, "%s: %s\n  next: %s\n", pal.severity(f.Severity), f.Summary, f.Remediation.Command)
	}
}

// printTable writes the PID · PORT · VERSION · CLASS · REASON table. On a
// colour terminal the class is coloured after tabwriter has aligned the
// plain text: escape sequences would count as width and skew the columns.
func printTable(ios *IOStreams, recs []api.IdentityRecord) {
	pal := outPalette(ios)
	var buf bytes.Buffer
	tw := table(&IOStreams{Out: &buf, OutTTY: ios.OutTTY})
	fmt.Fprintln(tw, "PID\tPORT\tVERSION\tCLASS\tREASON")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", optInt(r.PID), r.Port, optStr(r.PackageVersion), r.CleanupClass, r.Reason)
	}
	tw.Flush()
	lines := strings.SplitAfter(buf.String(), "\n")
	for i := 1; i < len(lines) && i <= len(recs); i++ {
		c := recs[i-1].CleanupClass
		lines[i] = strings.Replace(lines[i], c, pal.class(c), 1) // no version is a class name
	}
	io.WriteString(ios.Out, strings.Join(lines, ""))
}

// rankFindings orders findings by severity, most severe first, keeping the
// order of equal ones: a person reads the error before the info.
func rankFindings(fs []api.Finding) []api.Finding {
	rank := map[string]int{"error": 0, "warning": 1, "info": 2}
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b api.Finding) int {
		ra, ok := rank[a.Severity]
		if !ok {
			ra = 1
		}
		rb, ok := rank[b.Severity]
		if !ok {
			rb = 1
		}
		return ra - rb
	})
	return out
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
	if ops := countOps(res.Skipped); ops > 0 {
		fmt.Fprintf(w, "%s left running; to stop them too: %s\n", doctor.Plural(ops, "operator_required daemon"), doctor.CmdResetForce)
	}
}

// countOps counts the skipped daemons that --force would have stopped (not
// the ones that exited on their own).
func countOps(skipped []api.SkippedEntry) int {
	n := 0
	for _, s := range skipped {
		if s.SkipReason != api.SkipExited {
			n++
		}
	}
	return n
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
