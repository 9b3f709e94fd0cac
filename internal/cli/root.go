// Package cli is the spec-kitty command line: one file per command group.
// Commands parse flags into an options struct and hand it to a run function;
// stdout carries data, stderr carries messages.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// Exit statuses (SPEC §12).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
	// ExitInterrupted: Ctrl-C or SIGTERM stopped the command (SPEC §12).
	ExitInterrupted = 130
)

// usageError is a mistake in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// silentError carries an exit status whose message was already printed.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// IOStreams are a command's standard streams and whether they are terminals.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InTTY and OutTTY say whether stdin and stdout are terminals: tables
	// and prompts for people, plain rows for scripts.
	InTTY, OutTTY bool
	// Color allows colour on a terminal stream: false under NO_COLOR or
	// TERM=dumb. Output that is not a terminal is never coloured.
	Color bool
}

// System returns the process's own streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		Color:  colourWanted(),
	}
}

// Main runs the CLI with the process's arguments and returns the exit status.
func Main() int {
	if printVersion(os.Args[1:], os.Stdout) {
		return ExitOK
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go watchSignals(sigs, cancel, os.Exit)
	return Run(ctx, os.Args[1:], System())
}

// printVersion answers a bare `spec-kitty version` before the signal
// handlers and the command tree exist: scripts and the benchmarks' baseline
// run it often, and those cost a thread, goroutines and a few hundred
// kilobytes of freshly touched memory for nothing (SPEC §14: version within
// 1.5x a static hello). It prints exactly what the version command prints;
// anything else (--json, --help, extra arguments) goes through cobra.
func printVersion(args []string, w io.Writer) bool {
	if len(args) != 1 || args[0] != "version" {
		return false
	}
	fmt.Fprintf(w, "spec-kitty %s\n", version.Get().Version)
	return true
}

// watchSignals cancels the command on the first interrupt, so it can stop
// cleanly (a reset starts no further step), and exits at once on the second:
// nothing may hold a person who pressed Ctrl-C twice.
func watchSignals(sigs <-chan os.Signal, cancel func(), exit func(int)) {
	if _, ok := <-sigs; !ok {
		return
	}
	cancel()
	if _, ok := <-sigs; ok {
		exit(ExitInterrupted)
	}
}

// Run executes one command line.
func Run(ctx context.Context, args []string, io *IOStreams) int {
	root := NewRoot(io)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if ctx.Err() != nil && (cmd == nil || !cmd.Hidden) {
		// Interrupted (Ctrl-C or SIGTERM): whatever the command was doing
		// ended because of it, so its error is noise. A daemon (a hidden
		// command) told to stop by a signal stops cleanly instead.
		return ExitInterrupted
	}
	if err == nil {
		return ExitOK
	}
	var silent silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	fmt.Fprintf(io.ErrOut, "spec-kitty: %v\n", err)
	if ctx.Err() != nil {
		return ExitInterrupted
	}
	var usage usageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	return ExitError
}

// NewRoot builds the command tree.
func NewRoot(io *IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "spec-kitty",
		Short: "Spec Kitty: specs, sync and the local daemons that serve them",
		Long: `spec-kitty talks to a per-user background sync daemon on 127.0.0.1
(ports 9400-9449) and a per-project dashboard (ports 9237-9336).

Its files (state, log, queue, session) live in the runtime root:
$SPEC_KITTY_HOME when set, else ~/.spec-kitty (%LOCALAPPDATA%\spec-kitty
on Windows). See 'spec-kitty help environment' for every variable and
'spec-kitty help exit-codes'.

Stale daemons are found and cleaned with:
  spec-kitty auth doctor          # read-only: what is running and why
  spec-kitty auth doctor --reset  # clean what is safe to clean`,
		Example: `  spec-kitty sync start
  spec-kitty sync status --json
  SPEC_KITTY_HOME=/tmp/kitty spec-kitty auth doctor`,
		Version:       version.Current(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetVersionTemplate("spec-kitty {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%v (see %s --help)", flagError(err), cmd.CommandPath())
	})
	root.AddCommand(
		newVersionCmd(io),
		newSyncCmd(io),
		newSyncDaemonCmd(io),
		newAuthCmd(io),
		newDashboardCmd(io), newDashboardDaemonCmd(io),
		newEnvironmentTopic(), newExitCodesTopic(),
	)
	// cobra adds the help and completion commands when it executes; add
	// them now so that they get their examples too.
	root.InitDefaultHelpCmd()
	strictHelp(root)
	root.InitDefaultCompletionCmd()
	addExamples(root)
	return root
}

// flagError words a flag value that does not parse for a person: pflag's
// own error ends in Go's strconv message ("strconv.ParseInt: parsing
// \"abc\": invalid syntax"), which names a function, not the mistake.
func flagError(err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) || bad.GetFlag() == nil {
		return err
	}
	f := bad.GetFlag()
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand
	}
	switch f.Value.Type() {
	case "int", "int64", "int32", "uint", "uint64", "uint32":
		return fmt.Errorf("%s must be a number, got %q", name, bad.GetValue())
	case "duration":
		return fmt.Errorf("%s must be a duration such as 90s or 1h, got %q", name, bad.GetValue())
	}
	return err
}

// noArgs refuses stray arguments as a usage error, naming the way out and,
// for a mistyped subcommand, the one that was probably meant (cobra's own
// suggestion is only made when a command has no Args check).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !cmd.HasAvailableSubCommands() {
		return usagef("unexpected argument %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	hint := ""
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, set only on its path
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usagef("unknown command %q for %q%s (see %s --help)", args[0], cmd.CommandPath(), hint, cmd.CommandPath())
}

// strictHelp makes `spec-kitty help <name>` a usage error when no command
// or help topic has that name, with the one probably meant; cobra's own
// help command prints the root page and exits 0 for `help enviroment`.
func strictHelp(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "help" {
			continue
		}
		show := c.Run
		c.Run = nil
		c.RunE = func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err == nil && len(rest) > 0 {
				names := make([]string, 0, len(target.Commands()))
				for _, sub := range target.Commands() {
					if !sub.Hidden {
						names = append(names, sub.Name())
					}
				}
				hint := ""
				if s := closest(rest[0], names); s != "" {
					hint = fmt.Sprintf("; did you mean %q?", s)
				}
				return usagef("no help topic %q for %q%s (see %s --help)", rest[0], target.CommandPath(), hint, target.CommandPath())
			}
			show(cmd, args)
			return nil
		}
	}
}

// closest is the name within edit distance 2 of s, or that s is a prefix
// of, as cobra suggests commands; "" when there is none.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(s)) {
			return n
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// groupCmd is a command that only holds subcommands.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
}

func newVersionCmd(io *IOStreams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Print the version. With --json also the commit, the commit's date, the Go
version, OS and architecture of the build ("unknown" when the build has no
VCS data). SPEC_KITTY_CLI_VERSION overrides the version.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := version.Get()
			if asJSON {
				return writeJSON(io.Out, info)
			}
			fmt.Fprintf(io.Out, "spec-kitty %s\n", info.Version)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// layout resolves the runtime root of this invocation.
func layout() (paths.Layout, error) {
	l, err := paths.Resolve()
	var untrusted *paths.UntrustedError
	if errors.As(err, &untrusted) {
		return l, err // already one line naming the path and the fix
	}
	if err != nil {
		return l, fmt.Errorf("resolving runtime root: %w", err)
	}
	return l, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// notes prints what a command found and repaired on the way, to stderr.
func notes(io *IOStreams, list []string) {
	for _, n := range list {
		fmt.Fprintf(io.ErrOut, "note: %s\n", n)
	}
}
