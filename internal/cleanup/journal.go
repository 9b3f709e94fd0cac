// Package cleanup stops stale daemons safely: the pre-signal checks, the
// escalation http_shutdown → terminate → kill, and the journal that records
// every request and signal (SPEC §8).
package cleanup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// Actors: which entrypoint sent a request or signal.
const (
	ActorStartupReaper  = "startup_reaper"
	ActorDoctorReset    = "auth_doctor_reset"
	ActorDashboardStart = "dashboard_startup"
)

// Journal appends one line per shutdown request or signal to
// cleanup-journal.jsonl: the audit trail of range and family boundaries.
type Journal struct {
	path string
	mu   sync.Mutex
}

// NewJournal returns the journal at path.
func NewJournal(path string) *Journal { return &Journal{path: path} }

// OutcomeIntent is the outcome of the line written before a request or
// signal is sent: audit before action (SPEC §8).
const OutcomeIntent = "intent"

// ErrJournal reports a journal that cannot be written; nothing is sent then.
var ErrJournal = errors.New("journal not writable")

// Append writes one entry and flushes it to disk. Each line is one write to
// an O_APPEND file, so concurrent cleaners never interleave within a line.
// An error wraps ErrJournal.
func (j *Journal) Append(e api.JournalEntry) error {
	if err := j.append(e); err != nil {
		return fmt.Errorf("%w: %w", ErrJournal, err)
	}
	return nil
}

func (j *Journal) append(e api.JournalEntry) error {
	if j == nil {
		// No journal is an unwritable one: a request or signal that
		// cannot be audited is not sent (SPEC §8).
		return errors.New("no journal configured")
	}
	if e.Time == "" {
		e.Time = time.Now().UTC().Format(time.RFC3339Nano)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(j.path), 0o700); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	f, err := paths.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	// The intent line must be on disk before the signal: a cleaner killed
	// right after sending still leaves its trace.
	return f.Sync()
}

// ReadJournal returns every entry of a journal file; a missing file is empty.
func ReadJournal(path string) ([]api.JournalEntry, error) {
	data, err := paths.ReadFileLimit(path, maxJournal)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseJournal(data)
}

// ParseJournal decodes journal lines; it returns the entries before the
// first malformed line together with that line's error.
func ParseJournal(data []byte) ([]api.JournalEntry, error) {
	var out []api.JournalEntry
	for i, line := range splitLines(data) {
		var e api.JournalEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("journal line %d: %w", i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// maxJournal bounds what ReadJournal reads: a line is ~200 bytes.
const maxJournal = 64 << 20

func splitLines(data []byte) [][]byte {
	var lines [][]byte
	start := 0
	for i, b := range data {
		if b == '\n' {
			if i > start {
				lines = append(lines, data[start:i])
			}
			start = i + 1
		}
	}
	if start < len(data) {
		lines = append(lines, data[start:])
	}
	return lines
}

// Actors of graceful shutdown requests outside the escalation engine.
const (
	ActorEnsureRunning = "ensure_running"
	ActorSyncStop      = "sync_stop"
)

// RequestShutdown sends an authenticated shutdown request to the daemon on
// port and journals it, so every request any path sends is in the audit
// trail (SPEC §3). It sends nothing for a port outside the family's range.
func RequestShutdown(ctx context.Context, j *Journal, actor, family string, pid, port int, token string) error {
	if r, ok := api.RangeOf(family); !ok || !r.Contains(port) {
		return fmt.Errorf("port %d is outside the %s range: no shutdown request sent", port, family)
	}
	entry := api.JournalEntry{Actor: actor, Family: family, PID: pid, Port: port, Step: api.PathHTTPShutdown, Outcome: OutcomeIntent}
	if err := j.Append(entry); err != nil {
		return fmt.Errorf("no shutdown request sent: %w", err)
	}
	err := client.New(port).Shutdown(ctx, token)
	entry.Time, entry.Outcome = "", outcomeOf(err)
	_ = j.Append(entry) // the intent is on record; the request already went
	return err
}
