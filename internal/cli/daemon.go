package cli

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/logfile"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/syncd"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// tokenReadWait bounds the wait for the token line on stdin. The spawner
// writes it before the daemon has started; a daemon started by hand with an
// open, silent stdin makes its own after this long.
const tokenReadWait = time.Second

// newSyncDaemonCmd is the hidden production spawn signature (SPEC §4.1).
func newSyncDaemonCmd(ios *IOStreams) *cobra.Command {
	var port int
	var root, exe string
	cmd := &cobra.Command{
		Use:    lifecycle.SyncDaemonCommand,
		Short:  "Run the sync daemon (started by the CLI, not by hand)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !validPort(port) {
				return usagef("--port must be 1-65535, got %d", port)
			}
			l, err := daemonLayout(root)
			if err != nil {
				return err
			}
			logger, logw, err := daemonLogger(l.LogFile(), "pid", os.Getpid(), "port", port, "family", api.FamilySync)
			if err != nil {
				return err
			}
			defer logfile.Recover(logger)
			d := syncd.New(syncd.Config{
				Port:             port,
				Layout:           l,
				Exec:             exe,
				Marker:           root,
				Token:            readToken(ios.In),
				Version:          version.Current(),
				Logger:           logger,
				Ready:            spawn.ReadyReporter(),
				LogRotationError: logw.RotationError,
			})
			if err := d.Run(cmd.Context()); err != nil {
				logger.Error("sync daemon failed", "err", err)
				return err
			}
			// Another daemon of the scope (one with a record) may share
			// the crash file: only the last one out removes it.
			if names, _ := filepath.Glob(filepath.Join(l.InstanceDir(), "*.json")); len(names) == 0 {
				dropEmptyCrash(l.LogFile())
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "loopback port to listen on")
	cmd.Flags().StringVar(&root, "spec-kitty-daemon-root", "", "scope marker: the runtime root this daemon serves")
	cmd.Flags().StringVar(&exe, "spec-kitty-daemon-exec", "", "the executable that spawned this daemon")
	return cmd
}

func validPort(p int) bool { return p > 0 && p < 65536 }

// daemonLogger opens a daemon's size-bounded log and routes everything the
// process prints there as JSON lines (SPEC §3): its own records, anything
// written to stdout or stderr, and — on the next start — a crash the Go
// runtime recorded. attrs tag the lines that are not slog records. A log
// that is a symlink, a FIFO or anything but a regular file is refused and
// the daemon does not start (SPEC §3): the spawner checks the same, but a
// daemon started another way must not write through a planted link.
func daemonLogger(path string, attrs ...any) (*slog.Logger, *logfile.Writer, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("opening daemon log %s: %w (%s)", path, paths.ErrNotRegular, fi.Mode().Type())
	}
	w := logfile.Open(path)
	logger := slog.New(slog.NewJSONHandler(w, nil))
	logfile.IngestCrash(w, attrs...)
	if err := logfile.CaptureStd(w, attrs...); err != nil {
		logger.Warn("output not captured", append(attrs, "err", err)...)
	}
	return logger, w, nil
}

// dropEmptyCrash removes the crash file of the log at path when the daemon
// exits cleanly and nothing crashed into it: every start opens it for the
// Go runtime, and an empty file left behind only makes a person wonder.
// The runtime keeps its own descriptor, so crash output is switched off
// first (on Windows an open file cannot be removed).
func dropEmptyCrash(path string) {
	_ = debug.SetCrashOutput(nil, debug.CrashOptions{})
	crash := logfile.CrashFile(path)
	if fi, err := os.Lstat(crash); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		_ = os.Remove(crash)
	}
}

// daemonLayout is the scope named by the marker, or the environment's for a
// daemon started without one.
func daemonLayout(root string) (paths.Layout, error) {
	if root == "" {
		return layout()
	}
	return paths.At(root) // refuses a root another user could change
}

// readToken takes the control token from the first line of stdin, or makes
// one when stdin is a terminal, empty or silent.
func readToken(in io.Reader) string {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return spawn.NewToken()
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case tok := <-line:
		if tok != "" {
			return tok
		}
	case <-time.After(tokenReadWait):
	}
	return spawn.NewToken()
}
