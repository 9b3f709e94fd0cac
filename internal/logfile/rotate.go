// Package logfile is the daemons' log: one JSON object a line, rotated at
// 5 MiB keeping two numbered backups (SPEC §3), read back by `sync logs`.
package logfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// MaxBytes is the size at which a log is rotated (SPEC §3).
const MaxBytes = 5 << 20

// Backups is how many rotated files are kept: <log>.1 (newest) and <log>.2.
const Backups = 2

// neverRotate is lumberjack's size limit in megabytes, large enough that it
// never rotates on its own (see Writer).
const neverRotate = 1 << 30

// retryRotation is how long a Writer whose rotation failed keeps appending
// before it tries again: the cause (on Windows, another process holding the
// file open without FILE_SHARE_DELETE) may go away, but one try per write
// would reopen the file for every line.
const retryRotation = time.Minute

// Writer appends to a log file and rotates it at MaxBytes into <log>.1 and
// <log>.2, as SPEC §3 names them.
//
// lumberjack names its backups <name>-<timestamp>.<ext> and has no option
// for numbered ones, and renaming its backups after the fact would mean
// listing the folder after each rotation. The least code that yields the
// contract's names is to let lumberjack own the file (open-or-create with
// the mode kept, append, reopen after Close) and do the numbered shift here:
// two renames before the write that would cross the limit.
//
// A rotation that fails is never silent (SPEC §8): the Writer appends one
// JSON line saying so (once, not on every write), keeps the error for
// RotationError — the sync daemon reports it in its health, `sync status`
// shows it — and keeps appending so no line is lost. A later rotation that
// succeeds clears it.
type Writer struct {
	path string

	mu   sync.Mutex
	lj   *lumberjack.Logger
	size int64 // -1 until the current file was measured

	rotErr    error     // the last rotation failure; nil once one succeeds
	nextRetry time.Time // no new attempt before this, after a failure

	// rename and now are os.Rename and time.Now; tests replace them.
	rename func(oldpath, newpath string) error
	now    func() time.Time
}

// Open returns a Writer for path; the file is created (0600) on first write.
func Open(path string) *Writer {
	return &Writer{
		path: path, size: -1,
		lj:     &lumberjack.Logger{Filename: path, MaxSize: neverRotate},
		rename: os.Rename, now: time.Now,
	}
}

// Path is the file this Writer appends to.
func (w *Writer) Path() string { return w.path }

// RotationError is why the last rotation failed, or "" when rotation works
// (or was never needed).
func (w *Writer) RotationError() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rotErr == nil {
		return ""
	}
	return w.rotErr.Error()
}

// Write appends p, rotating first when p would take the file past MaxBytes.
// A write is never split across files, so every file holds whole lines.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size < 0 {
		w.size = 0
		if fi, err := os.Stat(w.path); err == nil {
			w.size = fi.Size()
		}
	}
	if w.size > 0 && w.size+int64(len(p)) > MaxBytes && !w.now().Before(w.nextRetry) {
		w.tryRotate()
	}
	n, err := w.lj.Write(p)
	w.size += int64(n)
	return n, err
}

// tryRotate rotates and records the outcome. The first failure of a run of
// failures is written to the log itself; a failed rotation must not lose
// the line, so the caller appends to the unrotated file either way.
func (w *Writer) tryRotate() {
	err := w.rotate()
	if err == nil {
		w.rotErr, w.nextRetry = nil, time.Time{}
		return
	}
	first := w.rotErr == nil
	w.rotErr, w.nextRetry = err, w.now().Add(retryRotation)
	if first {
		n, _ := w.lj.Write(rotationLine(w.now(), err))
		w.size += int64(n)
	}
}

// rotationLine is the JSON line that records a failed rotation, in the
// shape of the daemons' slog records.
func rotationLine(at time.Time, err error) []byte {
	line, _ := json.Marshal(struct {
		Time  time.Time `json:"time"`
		Level string    `json:"level"`
		Msg   string    `json:"msg"`
		Err   string    `json:"err"`
	}{at, "ERROR", "log rotation failed; appending past the size limit", err.Error()})
	return append(line, '\n')
}

// rotate shifts <log>.1 to <log>.2 (dropping the old .2) and the log to .1;
// lumberjack creates a fresh log on the next write.
func (w *Writer) rotate() error {
	if err := w.lj.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", w.path, err)
	}
	for i := Backups; i > 1; i-- {
		if err := w.rename(Backup(w.path, i-1), Backup(w.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotating log: %w", err)
		}
	}
	if err := w.rename(w.path, Backup(w.path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotating log: %w", err)
	}
	w.size = 0
	return nil
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lj.Close()
}

// Backup is the name of the i-th rotated file of path (1 is the newest).
func Backup(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}
