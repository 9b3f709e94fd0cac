package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on one event. They keep a single publish and an upload batch
// bounded whatever a client sends.
const (
	// MaxTypeLen bounds an event type in bytes.
	MaxTypeLen = 128
	// MaxIDLen bounds a caller-supplied event id in bytes.
	MaxIDLen = 128
	// MaxDataBytes bounds an event's JSON data.
	MaxDataBytes = 1 << 20
)

// deleteChunk bounds the ids of one DELETE statement, well under SQLite's
// limit on bound parameters.
const deleteChunk = 500

// ErrInvalidEvent reports an event that Publish refused; nothing was queued.
var ErrInvalidEvent = errors.New("invalid event")

// Event is one queued event. Its JSON form is what the uploader sends.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Publish queues a new event with a fresh id. The event is committed to disk
// before Publish returns. Empty data is stored as JSON null.
func (q *Queue) Publish(ctx context.Context, typ string, data json.RawMessage) (Event, error) {
	return q.PublishEvent(ctx, Event{Type: typ, Data: data})
}

// PublishEvent queues ev, generating its id and creation time when they are
// zero. Publishing an id that is already queued is idempotent: the queued
// event is returned and nothing is added, so a client may retry safely.
func (q *Queue) PublishEvent(ctx context.Context, ev Event) (Event, error) {
	ev, err := normalize(ev)
	if err != nil {
		return Event{}, err
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO events (id, type, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		ev.ID, ev.Type, string(ev.Data), ev.CreatedAt.UnixNano())
	if err != nil {
		return Event{}, fmt.Errorf("queueing event %s: %w", ev.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return Event{}, fmt.Errorf("queueing event %s: %w", ev.ID, err)
	}
	if n == 0 {
		stored, err := q.get(ctx, ev.ID)
		if errors.Is(err, sql.ErrNoRows) {
			// Queued earlier and already delivered between the insert and
			// this read: the event was accepted once, which is what a
			// retrying client needs to hear.
			return ev, nil
		}
		return stored, err
	}
	q.depth.Add(1)
	return ev, nil
}

// Peek returns up to limit queued events, oldest first, leaving them queued.
func (q *Queue) Peek(ctx context.Context, limit int) ([]Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("peeking at the queue: limit %d is not positive", limit)
	}
	rows, err := q.r.QueryContext(ctx,
		`SELECT id, type, data, created_at FROM events ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("peeking at the queue: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("peeking at the queue: %w", err)
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("peeking at the queue: %w", err)
	}
	return events, nil
}

// Delete removes the events with the given ids, in one transaction. Ids that
// are not queued are ignored.
func (q *Queue) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deleting events: %w", err)
	}
	defer tx.Rollback()
	var deleted int64
	for start := 0; start < len(ids); start += deleteChunk {
		chunk := ids[start:min(start+deleteChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id IN (`+marks+`)`, args...)
		if err != nil {
			return fmt.Errorf("deleting events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("deleting events: %w", err)
		}
		deleted += n
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deleting events: %w", err)
	}
	if q.depth.Add(-deleted) < 0 {
		// Another process deleted some of them first; Depth recounts.
		q.depth.Store(0)
	}
	return nil
}

// Depth counts the queued events and refreshes CachedDepth.
func (q *Queue) Depth(ctx context.Context) (int, error) {
	var n int
	if err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting queued events: %w", err)
	}
	q.depth.Store(int64(n))
	return n, nil
}

// CachedDepth returns the depth as of the last Depth call, moved by this
// handle's own publishes and deletes since. It never touches the database,
// so a health answer can report it while an upload is in flight; changes
// made through other handles show up at the next Depth.
func (q *Queue) CachedDepth() int { return int(q.depth.Load()) }

func (q *Queue) get(ctx context.Context, id string) (Event, error) {
	row := q.w.QueryRowContext(ctx, `SELECT id, type, data, created_at FROM events WHERE id = ?`, id)
	ev, err := scanEvent(row)
	if err != nil {
		return Event{}, fmt.Errorf("reading queued event %s: %w", id, err)
	}
	return ev, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEvent(s scanner) (Event, error) {
	var (
		ev   Event
		data string
		nano int64
	)
	if err := s.Scan(&ev.ID, &ev.Type, &data, &nano); err != nil {
		return Event{}, err
	}
	ev.Data = json.RawMessage(data)
	ev.CreatedAt = time.Unix(0, nano).UTC()
	return ev, nil
}

// normalize validates ev and fills its defaults: id, creation time, and
// compact JSON data (null when empty).
func normalize(ev Event) (Event, error) {
	if err := validateType(ev.Type); err != nil {
		return Event{}, err
	}
	if ev.ID == "" {
		ev.ID = newID()
	} else if err := validateID(ev.ID); err != nil {
		return Event{}, err
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = time.Now()
	}
	ev.CreatedAt = ev.CreatedAt.UTC()
	data, err := normalizeData(ev.Data)
	if err != nil {
		return Event{}, err
	}
	ev.Data = data
	return ev, nil
}

func validateType(typ string) error {
	switch {
	case typ == "":
		return fmt.Errorf("%w: type is empty", ErrInvalidEvent)
	case len(typ) > MaxTypeLen:
		return fmt.Errorf("%w: type is %d bytes, more than %d", ErrInvalidEvent, len(typ), MaxTypeLen)
	case !utf8.ValidString(typ):
		return fmt.Errorf("%w: type is not valid UTF-8", ErrInvalidEvent)
	case strings.ContainsFunc(typ, unicode.IsControl):
		return fmt.Errorf("%w: type contains a control character", ErrInvalidEvent)
	}
	return nil
}

func validateID(id string) error {
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: id is %d bytes, more than %d", ErrInvalidEvent, len(id), MaxIDLen)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return fmt.Errorf("%w: id %q: only letters, digits, dash, underscore, dot and colon are allowed", ErrInvalidEvent, id)
		}
	}
	return nil
}

func normalizeData(data json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return json.RawMessage("null"), nil
	}
	if len(data) > MaxDataBytes {
		return nil, fmt.Errorf("%w: data is %d bytes, more than %d", ErrInvalidEvent, len(data), MaxDataBytes)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, fmt.Errorf("%w: data is not valid JSON: %v", ErrInvalidEvent, err)
	}
	return json.RawMessage(buf.Bytes()), nil
}

// newID returns a random (version 4) UUID: 122 random bits, so ids from any
// number of processes never collide in practice.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
