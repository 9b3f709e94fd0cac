package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/events"
)

// deleteChunk bounds the ids of one statement, well under SQLite's limit
// on bound parameters.
const deleteChunk = 500

// maxLastError bounds the error text kept with a rejected or parked event.
const maxLastError = 500

// ErrInvalidEvent reports an event that Publish refused; nothing was queued.
var ErrInvalidEvent = events.ErrInvalid

// ErrFull reports a queue that holds MaxEvents events; nothing was queued.
var ErrFull = errors.New("queue is full")

// Item is one queued event.
type Item struct {
	EventID     string
	ProjectUUID string
	// Envelope is the event as uploaded: a spec-kitty-events envelope.
	Envelope   json.RawMessage
	CreatedAt  time.Time
	RetryCount int
	Parked     bool
	LastError  string
}

// Published is the answer to a publish.
type Published struct {
	EventID string
	// Existed reports that the event id was already queued (a retry): the
	// queue is unchanged.
	Existed bool
	// Delivered reports that the event id was delivered within
	// LedgerRetention (a retry after the upload): nothing was queued.
	Delivered bool
	// LamportClock is the clock value stamped on the event.
	LamportClock int64
}

// Publish validates env, stamps it with this machine's node id and the
// next Lamport clock value unless its emitter stamped it (see stamped), and
// commits it, all in one transaction, so the clock is monotonic whichever
// process publishes. An event id that is already queued, or was delivered
// within LedgerRetention, changes nothing (idempotent retries).
func (q *Queue) Publish(ctx context.Context, env events.Envelope) (Published, error) {
	if env.EventID == "" {
		return Published{}, fmt.Errorf("%w: event_id: missing", ErrInvalidEvent)
	}
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return Published{}, fmt.Errorf("queueing event %s: %w", env.EventID, err)
	}
	defer tx.Rollback()
	var clock int64
	err = tx.QueryRowContext(ctx, `SELECT json_extract(envelope, '$.lamport_clock') FROM events WHERE event_id = ?`, env.EventID).Scan(&clock)
	if err == nil {
		return Published{EventID: env.EventID, Existed: true, LamportClock: clock}, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Published{}, fmt.Errorf("queueing event %s: %w", env.EventID, err)
	}
	if done, err := delivered(ctx, tx, env.EventID, time.Now()); err != nil || done {
		return Published{EventID: env.EventID, Delivered: done}, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return Published{}, fmt.Errorf("queueing event %s: %w", env.EventID, err)
	}
	if n >= q.maxEvents {
		return Published{}, fmt.Errorf("%w: it holds %d events, the most it keeps; nothing was queued until uploads drain it", ErrFull, n)
	}
	node, err := metaValue(ctx, tx, "node_id", events.DefaultNodeID())
	if err != nil {
		return Published{}, err
	}
	if stamped(env, node) {
		err = observe(ctx, tx, env.LamportClock)
	} else {
		err = stamp(ctx, tx, &env, node)
	}
	if err != nil {
		return Published{}, err
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return Published{}, fmt.Errorf("encoding event %s: %w", env.EventID, err)
	}
	if err := events.Validate(raw); err != nil {
		return Published{}, err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO events (event_id, project_uuid, envelope, created_at) VALUES (?, ?, ?, ?)`,
		env.EventID, env.ProjectUUID, string(raw), time.Now().UnixNano())
	if err != nil {
		return Published{}, fmt.Errorf("queueing event %s: %w", env.EventID, err)
	}
	if err := tx.Commit(); err != nil {
		return Published{}, fmt.Errorf("queueing event %s: %w", env.EventID, err)
	}
	q.depth.Add(1)
	return Published{EventID: env.EventID, LamportClock: env.LamportClock}, nil
}

// stamped reports whether env's emitter already stamped it: a node_id that
// is neither this queue's nor this machine's default belongs to another
// node, and a non-zero lamport_clock is a clock some node ticked (the
// Python CLI names the same machine node id as this one, yet keeps its own
// clock). Such an event keeps both fields: its order is its node's, and
// restamping the clock alone would break it. The Go CLI's envelopes carry
// this machine's node id and clock 0 and are stamped by the queue.
func stamped(env events.Envelope, node string) bool {
	if env.NodeID == "" {
		return false
	}
	foreign := env.NodeID != node && env.NodeID != events.DefaultNodeID()
	return foreign || env.LamportClock > 0
}

// stamp sets env's node id and the next value of the queue's Lamport
// clock, and advances the clock, inside the publish transaction.
func stamp(ctx context.Context, tx *sql.Tx, env *events.Envelope, node string) error {
	last, err := metaValue(ctx, tx, "lamport_clock", "0")
	if err != nil {
		return err
	}
	prev, _ := strconv.ParseInt(last, 10, 64)
	env.NodeID = node
	env.LamportClock = prev + 1
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('lamport_clock', ?)`, strconv.FormatInt(env.LamportClock, 10)); err != nil {
		return fmt.Errorf("advancing the lamport clock: %w", err)
	}
	return nil
}

// observe is Lamport's receive rule for an event another emitter stamped:
// the queue's clock moves up to the event's, so the events this daemon
// stamps next are ordered after one it has seen.
func observe(ctx context.Context, tx *sql.Tx, clock int64) error {
	last, err := metaValue(ctx, tx, "lamport_clock", "0")
	if err != nil {
		return err
	}
	if prev, _ := strconv.ParseInt(last, 10, 64); clock <= prev {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'lamport_clock'`, strconv.FormatInt(clock, 10)); err != nil {
		return fmt.Errorf("advancing the lamport clock: %w", err)
	}
	return nil
}

// metaValue returns the meta value of key, storing def first when missing.
func metaValue(ctx context.Context, tx *sql.Tx, key, def string) (string, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("reading %s: %w", key, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, key, def); err != nil {
		return "", fmt.Errorf("recording %s: %w", key, err)
	}
	return def, nil
}

// NodeID returns the node id this queue stamps on events (recording it on
// first use).
func (q *Queue) NodeID(ctx context.Context) (string, error) {
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("reading the node id: %w", err)
	}
	defer tx.Rollback()
	v, err := metaValue(ctx, tx, "node_id", events.DefaultNodeID())
	if err != nil {
		return "", err
	}
	return v, tx.Commit()
}

const itemColumns = `event_id, project_uuid, envelope, created_at, retry_count, parked_at IS NOT NULL, coalesce(last_error, '')`

// Peek returns up to limit events of the upload loop (parked ones left
// out), oldest first, leaving them queued.
func (q *Queue) Peek(ctx context.Context, limit int) ([]Item, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("peeking at the queue: limit %d is not positive", limit)
	}
	return q.list(ctx, `SELECT `+itemColumns+` FROM events WHERE parked_at IS NULL ORDER BY seq LIMIT ?`, limit)
}

// Parked returns up to limit parked events, oldest first.
func (q *Queue) Parked(ctx context.Context, limit int) ([]Item, error) {
	return q.list(ctx, `SELECT `+itemColumns+` FROM events WHERE parked_at IS NOT NULL ORDER BY seq LIMIT ?`, limit)
}

func (q *Queue) list(ctx context.Context, query string, args ...any) ([]Item, error) {
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the queue: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var (
			it   Item
			env  string
			nano int64
		)
		if err := rows.Scan(&it.EventID, &it.ProjectUUID, &env, &nano, &it.RetryCount, &it.Parked, &it.LastError); err != nil {
			return nil, fmt.Errorf("reading the queue: %w", err)
		}
		it.Envelope = json.RawMessage(env)
		it.CreatedAt = time.Unix(0, nano).UTC()
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the queue: %w", err)
	}
	return out, nil
}

// Reject counts one more rejection of each event and records why; an event
// rejected maxRetries times is parked.
func (q *Queue) Reject(ctx context.Context, ids []string, reason string, maxRetries int) error {
	_, err := q.update(ctx, ids,
		`UPDATE events SET retry_count = retry_count + 1, last_error = ?,
		 parked_at = CASE WHEN retry_count + 1 >= ? THEN ? ELSE parked_at END
		 WHERE event_id IN (%s)`,
		clip(reason), maxRetries, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("recording rejected events: %w", err)
	}
	return nil
}

// Park takes events out of the upload loop for good (until Unpark) and
// records why. They stay in the queue.
func (q *Queue) Park(ctx context.Context, ids []string, reason string) error {
	n, err := q.update(ctx, ids,
		`UPDATE events SET parked_at = ?, last_error = ? WHERE parked_at IS NULL AND event_id IN (%s)`,
		time.Now().UnixNano(), clip(reason))
	if err != nil {
		return fmt.Errorf("parking events: %w", err)
	}
	q.parked.Add(n)
	return nil
}

// Unpark returns parked events to the upload loop with a fresh retry count:
// all of them when ids is empty. It returns how many it moved.
func (q *Queue) Unpark(ctx context.Context, ids []string) (int, error) {
	var (
		res sql.Result
		err error
	)
	if len(ids) == 0 {
		res, err = q.w.ExecContext(ctx, `UPDATE events SET parked_at = NULL, retry_count = 0 WHERE parked_at IS NOT NULL`)
		if err != nil {
			return 0, fmt.Errorf("retrying parked events: %w", err)
		}
		n, _ := res.RowsAffected()
		q.parked.Store(0)
		return int(n), nil
	}
	n, err := q.update(ctx, ids, `UPDATE events SET parked_at = NULL, retry_count = 0 WHERE parked_at IS NOT NULL AND event_id IN (%s)`)
	if err != nil {
		return 0, fmt.Errorf("retrying parked events: %w", err)
	}
	if q.parked.Add(-n) < 0 {
		q.parked.Store(0)
	}
	return int(n), nil
}

// update runs stmt (with one %s for the id list, after the leading args)
// over ids in chunks, in one transaction, and returns the rows affected.
func (q *Queue) update(ctx context.Context, ids []string, stmt string, lead ...any) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var total int64
	for start := 0; start < len(ids); start += deleteChunk {
		chunk := ids[start:min(start+deleteChunk, len(ids))]
		args := append([]any{}, lead...)
		for _, id := range chunk {
			args = append(args, id)
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		res, err := tx.ExecContext(ctx, fmt.Sprintf(stmt, marks), args...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, tx.Commit()
}

// Depth counts the queued events (parked included) and refreshes the
// cached counts.
func (q *Queue) Depth(ctx context.Context) (int, error) {
	c, err := q.Counts(ctx)
	return c.Depth, err
}

// Counts counts queued and parked events and refreshes the cached counts.
func (q *Queue) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	if err := q.r.QueryRowContext(ctx, `SELECT count(*), count(parked_at) FROM events`).Scan(&c.Depth, &c.Parked); err != nil {
		return Counts{}, fmt.Errorf("counting queued events: %w", err)
	}
	q.depth.Store(int64(c.Depth))
	q.parked.Store(int64(c.Parked))
	return c, nil
}

// Ready counts the events in the upload loop (not parked).
func (q *Queue) Ready(ctx context.Context) (int, error) {
	var n int
	if err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE parked_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting queued events: %w", err)
	}
	return n, nil
}

// CachedDepth returns the depth as of the last count, moved by this
// handle's own publishes and deletes since. It never touches the database,
// so a health answer can report it while an upload is in flight.
func (q *Queue) CachedDepth() int { return int(q.depth.Load()) }

// CachedParked is the parked count as of the last count, moved by this
// handle's own parks since.
func (q *Queue) CachedParked() int { return int(q.parked.Load()) }

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxLastError {
		s = s[:maxLastError] + "…"
	}
	return s
}
