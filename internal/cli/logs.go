package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The daemon logs one JSON object a line (slog's JSON handler). On a
// terminal `sync logs` prints each as `time level message key=value …`,
// the way slog's text handler would have; piped or with --json it prints
// the lines as they are, for jq.

// humanLogLine renders one log line for a person. A line that is not a JSON
// object (a torn write, a foreign line) is printed as it is: nothing of the
// log is ever hidden.
func humanLogLine(line string, pal palette) string {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return line
	}
	var when, level, msg string
	var attrs []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return line
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return line
		}
		switch key {
		case "time":
			when = logTime(raw)
		case "level":
			level = scalar(raw)
		case "msg":
			msg = scalar(raw)
		default:
			attrs = append(attrs, key+"="+quoteIfNeeded(scalar(raw)))
		}
	}
	parts := make([]string, 0, 3+len(attrs))
	for _, p := range []string{when, pal.level(level), msg} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(append(parts, attrs...), " ")
}

// logTime shows a log time in the reader's zone, to the millisecond, with
// the date: the log spans days and rotations.
func logTime(raw json.RawMessage) string {
	s := scalar(raw)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// scalar is a JSON string's text, or any other JSON value compacted.
func scalar(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// quoteIfNeeded quotes a value with spaces, quotes, an equals sign or
// control characters (a stack trace's newlines), as slog's text handler does.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	if strings.ContainsAny(s, " =\"\t\r\n") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}

// logLineWriter passes whole lines through humanLogLine; a line split
// across writes (a followed log) waits for its end.
type logLineWriter struct {
	w       io.Writer
	pal     palette
	mu      sync.Mutex
	partial []byte
}

func (l *logLineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimRight(string(l.partial[:i]), "\r")
		l.partial = l.partial[i+1:]
		if _, err := fmt.Fprintln(l.w, humanLogLine(line, l.pal)); err != nil {
			return 0, err
		}
	}
}
