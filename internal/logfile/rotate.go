// Package logfile is the daemons' log: one JSON object a line, rotated at
// 5 MiB keeping two numbered backups (SPEC §3), read back by `sync logs`.
package logfile

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"
)

// MaxBytes is the size at which a log is rotated (SPEC §3).
const MaxBytes = 5 << 20

// Backups is how many rotated files are kept: <log>.1 (newest) and <log>.2.
const Backups = 2

// neverRotate is lumberjack's size limit in megabytes, large enough that it
// never rotates on its own (see Writer).
const neverRotate = 1 << 30

// Writer appends to a log file and rotates it at MaxBytes into <log>.1 and
// <log>.2, as SPEC §3 names them.
//
// lumberjack names its backups <name>-<timestamp>.<ext> and has no option
// for numbered ones, and renaming its backups after the fact would mean
// listing the folder after each rotation. The least code that yields the
// contract's names is to let lumberjack own the file (open-or-create with
// the mode kept, append, reopen after Close) and do the numbered shift here:
// two renames before the write that would cross the limit.
type Writer struct {
	path string

	mu   sync.Mutex
	lj   *lumberjack.Logger
	size int64 // -1 until the current file was measured
}

// Open returns a Writer for path; the file is created (0600) on first write.
func Open(path string) *Writer {
	return &Writer{path: path, size: -1, lj: &lumberjack.Logger{Filename: path, MaxSize: neverRotate}}
}

// Path is the file this Writer appends to.
func (w *Writer) Path() string { return w.path }

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
	if w.size > 0 && w.size+int64(len(p)) > MaxBytes {
		// A failed rotation must not lose the line: keep appending.
		_ = w.rotate()
	}
	n, err := w.lj.Write(p)
	w.size += int64(n)
	return n, err
}

// rotate shifts <log>.1 to <log>.2 (dropping the old .2) and the log to .1;
// lumberjack creates a fresh log on the next write.
func (w *Writer) rotate() error {
	if err := w.lj.Close(); err != nil {
		return err
	}
	for i := Backups; i > 1; i-- {
		if err := os.Rename(Backup(w.path, i-1), Backup(w.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(w.path, Backup(w.path, 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
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
