package logfile

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// followPoll is how often a followed log is checked for new lines and for a
// rotation: quick enough to feel live, rare enough to cost nothing.
const followPoll = 250 * time.Millisecond

// Tail returns the last n lines of the log at path, reaching into the
// rotated <path>.1 and <path>.2 when the current file holds fewer. A missing
// file contributes nothing.
func Tail(path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	var lines []string
	for i := 0; i <= Backups && len(lines) < n; i++ {
		name := path
		if i > 0 {
			name = Backup(path, i)
		}
		got, err := tailFile(name, n-len(lines))
		if err != nil {
			return nil, err
		}
		lines = append(got, lines...)
	}
	return lines, nil
}

// tailFile returns up to the last n lines of one file, keeping only a ring
// of n lines in memory however large the file is.
func tailFile(name string, n int) ([]string, error) {
	f, err := paths.Open(name) // a FIFO or symlink is an error, never a hang
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ring := make([]string, 0, n)
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if len(line) > 0 {
			line = trimEOL(line)
			if len(ring) == n {
				ring = append(ring[:0], ring[1:]...)
			}
			ring = append(ring, line)
		}
		if err == io.EOF {
			return ring, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func trimEOL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// Follow writes the lines appended to the log at path to w until ctx ends,
// starting at the current end. When the log is rotated (the path names a
// new file, or the file shrank) it finishes the old file and continues at
// the start of the new one, so no line is skipped.
func Follow(ctx context.Context, path string, w io.Writer) error {
	f, err := openAtEnd(path)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var partial []byte
	buf := make([]byte, 32<<10)
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		if f != nil {
			for {
				n, err := f.Read(buf)
				if n > 0 {
					partial = append(partial, buf[:n]...)
					partial, err = flushLines(w, partial)
					if err != nil {
						return err
					}
				}
				if err != nil || n == 0 {
					break
				}
			}
		}
		if rotated(f, path) {
			if f != nil {
				f.Close()
			}
			f, partial = nil, nil
			if nf, err := paths.Open(path); err == nil {
				f = nf // new file: read it from its start
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// openAtEnd opens path positioned at its end; a missing log is not an
// error (the daemon creates it when it starts), nil is returned instead.
func openAtEnd(path string) (*os.File, error) {
	f, err := paths.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// rotated reports whether path no longer names the open file f (renamed
// away, or truncated below what was read), or names one when f is nil.
func rotated(f *os.File, path string) bool {
	cur, err := os.Stat(path)
	if err != nil {
		return false
	}
	if f == nil {
		return true
	}
	open, err := f.Stat()
	if err != nil || !os.SameFile(open, cur) {
		return true
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	return err == nil && cur.Size() < pos
}

// flushLines writes every complete line of b to w and returns the rest.
func flushLines(w io.Writer, b []byte) ([]byte, error) {
	last := -1
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			last = i
			break
		}
	}
	if last < 0 {
		return b, nil
	}
	if _, err := w.Write(b[:last+1]); err != nil {
		return nil, err
	}
	return append(b[:0], b[last+1:]...), nil
}
