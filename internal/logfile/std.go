package logfile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// maxLine bounds one captured line; a longer one is split.
const maxLine = 64 << 10

// maxCrash bounds how much of a crash file is moved into the log: a crash
// dump of every goroutine is far smaller, and a damaged file must not
// exhaust memory.
const maxCrash = 1 << 20

// CrashFile is where the Go runtime writes a crash (an unrecovered panic or a
// fatal error) of the process logging to path. The runtime writes it raw and
// the process dies mid-write, so it cannot pass through the JSON writer; the
// next daemon of the scope turns it into one JSON line (IngestCrash).
func CrashFile(path string) string { return path + ".crash" }

// CaptureStd makes the process's own output arrive in w as JSON lines:
// whatever Go code writes to os.Stdout or os.Stderr becomes one JSON object
// a line, and the raw file descriptors 1 and 2 — inherited from the spawner
// as the log file itself — are pointed at the null device, so nothing raw
// is ever appended to the log. A crash goes to CrashFile(w.Path()).
func CaptureStd(w *Writer, attrs ...any) error {
	crash, err := paths.OpenFile(CrashFile(w.Path()), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening crash file: %w", err)
	}
	defer crash.Close() // SetCrashOutput keeps its own duplicate
	if err := debug.SetCrashOutput(crash, debug.CrashOptions{}); err != nil {
		return fmt.Errorf("setting crash output: %w", err)
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("capturing stderr: %w", err)
	}
	if err := detachStdFDs(); err != nil {
		return fmt.Errorf("detaching stdout and stderr: %w", err)
	}
	os.Stdout, os.Stderr = pw, pw
	// The standard logger kept the old stderr, which may now be closed.
	log.SetOutput(pw)
	go wrapLines(r, w, attrs)
	return nil
}

// wrapLines copies r to w, one JSON line per line read; a line that is
// already a JSON object passes unchanged.
func wrapLines(r io.Reader, w io.Writer, attrs []any) {
	log := slog.New(slog.NewJSONHandler(w, nil)).With(attrs...)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if json.Valid(line) && strings.HasPrefix(strings.TrimSpace(string(line)), "{") {
			_, _ = w.Write(append(line, '\n'))
			continue
		}
		log.Warn("output", "stream", "stderr", "line", string(line))
	}
}

// crashMsg is the msg of the JSON line that records a crash.
const crashMsg = "an earlier process crashed"

// IngestCrash moves a crash left by an earlier process logging to w's path
// into w as one JSON line, and empties the crash file.
func IngestCrash(w *Writer, attrs ...any) {
	if writeCrash(w, w.Path(), attrs) {
		// Truncate through a no-follow open, never through a symlink.
		if f, err := paths.OpenFile(CrashFile(w.Path()), os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
			f.Close()
		}
	}
}

// PendingCrash writes to out, as the JSON line IngestCrash would log, a
// crash of a process logging to path that no later daemon has moved into
// the log yet. It changes nothing.
func PendingCrash(out io.Writer, path string) {
	writeCrash(out, path, nil)
}

// writeCrash writes the crash file of path as one JSON line to w and
// reports whether there was one.
func writeCrash(w io.Writer, path string, attrs []any) bool {
	f, err := paths.Open(CrashFile(path)) // a FIFO or symlink is skipped, never a hang
	if err != nil {
		return false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCrash))
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return false
	}
	at := time.Now()
	if fi, err := f.Stat(); err == nil {
		at = fi.ModTime()
	}
	log := slog.New(slog.NewJSONHandler(w, nil)).With(attrs...)
	log.Error(crashMsg, "crashed_at", at.UTC(), "output", strings.TrimSpace(string(data)))
	return true
}

// Recover logs a panic of the calling goroutine as one JSON line with its
// stack, then ends the process with status 2 as an unrecovered panic
// would. Use as `defer logfile.Recover(log)` at the top of a goroutine.
func Recover(log *slog.Logger) {
	if v := recover(); v != nil {
		log.Error("panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		os.Exit(2)
	}
}
