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
	"syscall"

	"github.com/spf13/cobra"
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
}

// System returns the process's own streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
	}
}

// Main runs the CLI with the process's arguments and returns the exit status.
func Main() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go watchSignals(sigs, cancel, os.Exit)
	return Run(ctx, os.Args[1:], System())
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
	err := root.ExecuteContext(ctx)
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

Stale daemons are found and cleaned with:
  spec-kitty auth doctor          # read-only: what is running and why
  spec-kitty auth doctor --reset  # clean what is safe to clean`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newVersionCmd(io),
		newSyncCmd(io),
		newSyncDaemonCmd(io),
		newAuthCmd(io),
		newDashboardCmd(io), newDashboardDaemonCmd(io),
	)
	return root
}

// noArgs refuses stray arguments as a usage error, naming the way out.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
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
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return writeJSON(io.Out, map[string]string{"version": version.Current()})
			}
			fmt.Fprintf(io.Out, "spec-kitty %s\n", version.Current())
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
