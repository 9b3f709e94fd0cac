// Package statefile reads and writes the 4-line singleton record shared with
// the older Python implementation: url, port, token, pid (SPEC §3). The sync
// daemon's `sync-daemon` and the dashboard's `.dashboard` use it alike.
package statefile

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// maxSize bounds what is read: a valid record is under 200 bytes.
const maxSize = 4 << 10

// Record is one singleton record.
type Record struct {
	URL   string
	Port  int
	Token string
	PID   int
}

// ErrMalformed reports a record that exists but cannot be used.
var ErrMalformed = errors.New("malformed state file")

// Read returns the record at path. A missing file is os.ErrNotExist; a file
// that is empty, truncated or garbled is ErrMalformed with what was wrong.
func Read(path string) (Record, error) {
	f, err := paths.Open(path)
	if err != nil {
		return Record{}, err
	}
	defer f.Close()
	buf := make([]byte, maxSize+1)
	n, err := f.Read(buf)
	if err != nil && n == 0 {
		return Record{}, fmt.Errorf("%w: %s is empty", ErrMalformed, path)
	}
	if n > maxSize {
		return Record{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrMalformed, path, maxSize)
	}
	return Parse(buf[:n])
}

// Parse decodes the 4-line format.
func Parse(data []byte) (Record, error) {
	lines := strings.Split(strings.TrimRight(string(bytes.TrimSpace(data)), "\n"), "\n")
	if len(lines) < 4 {
		return Record{}, fmt.Errorf("%w: %d of 4 lines", ErrMalformed, len(lines))
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	rec := Record{URL: lines[0], Token: lines[2]}
	u, err := url.Parse(rec.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return Record{}, fmt.Errorf("%w: line 1 is not a daemon url: %q", ErrMalformed, clip(lines[0]))
	}
	if rec.Port, err = strconv.Atoi(lines[1]); err != nil || rec.Port <= 0 || rec.Port > 65535 {
		return Record{}, fmt.Errorf("%w: line 2 is not a port: %q", ErrMalformed, clip(lines[1]))
	}
	if rec.Token == "" {
		return Record{}, fmt.Errorf("%w: line 3 (token) is empty", ErrMalformed)
	}
	if rec.PID, err = strconv.Atoi(lines[3]); err != nil || rec.PID <= 0 {
		return Record{}, fmt.Errorf("%w: line 4 is not a pid: %q", ErrMalformed, clip(lines[3]))
	}
	return rec, nil
}

// Write stores rec atomically with mode 0600.
func Write(path string, rec Record) error {
	data := fmt.Sprintf("%s\n%d\n%s\n%d\n", rec.URL, rec.Port, rec.Token, rec.PID)
	return paths.WriteFileAtomic(path, []byte(data), 0o600)
}

// Remove deletes the record; a missing one is not an error.
func Remove(path string) error { return paths.RemoveIfExists(path) }

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
