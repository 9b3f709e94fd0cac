package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The ledger remembers the ids of delivered events (SPEC §10), so that
// `sync publish --event-id X` after X went out queues nothing instead of
// sending X again. The server deduplicates by event_id too, but only the
// ledger keeps a retry from costing a queue slot and an upload.
const (
	// LedgerRetention is how long a delivered id is remembered.
	LedgerRetention = 30 * 24 * time.Hour
	// LedgerMaxIDs bounds the ledger: a busy machine cannot grow it
	// without limit within the retention.
	LedgerMaxIDs = 100_000
)

// delivered reports whether id is in the ledger and younger than the
// retention, inside the publish transaction.
func delivered(ctx context.Context, tx *sql.Tx, id string, now time.Time) (bool, error) {
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT delivered_at FROM delivered WHERE event_id = ?`, id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the delivered ledger: %w", err)
	}
	return at >= now.Add(-LedgerRetention).UnixNano(), nil
}

// Delete removes the events with the given ids and records them in the
// ledger, in one transaction: the ones the server accepted or already had.
// Ids not queued are still recorded (another daemon may have deleted them
// first; the server has them all the same).
func (q *Queue) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("deleting events: %w", err)
	}
	defer tx.Rollback()
	now := time.Now()
	var n int64
	for start := 0; start < len(ids); start += deleteChunk {
		chunk := ids[start:min(start+deleteChunk, len(ids))]
		removed, err := deleteChunkTx(ctx, tx, chunk, now)
		if err != nil {
			return fmt.Errorf("deleting events: %w", err)
		}
		n += removed
	}
	if err := prune(ctx, tx, now, q.ledgerMax()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("deleting events: %w", err)
	}
	if q.depth.Add(-n) < 0 {
		q.depth.Store(0) // another process deleted some first; Depth recounts
	}
	return nil
}

// deleteChunkTx deletes one chunk of ids and records them as delivered.
func deleteChunkTx(ctx context.Context, tx *sql.Tx, ids []string, now time.Time) (int64, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE event_id IN (`+marks+`)`, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	rows := strings.TrimSuffix(strings.Repeat("(?,?),", len(ids)), ",")
	vals := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		vals = append(vals, id, now.UnixNano())
	}
	// REPLACE moves a re-delivered id to the end of the ledger.
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO delivered (event_id, delivered_at) VALUES `+rows, vals...); err != nil {
		return 0, fmt.Errorf("recording delivered events: %w", err)
	}
	return n, nil
}

// prune drops ledger entries older than the retention and the oldest
// beyond maxIDs. Both deletes walk an index from its old end, so the cost
// is the rows removed, not the ledger's size.
func prune(ctx context.Context, tx *sql.Tx, now time.Time, maxIDs int) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM delivered WHERE delivered_at < ?`, now.Add(-LedgerRetention).UnixNano()); err != nil {
		return fmt.Errorf("pruning the delivered ledger: %w", err)
	}
	// seq grows with every insert, so the newest maxIDs rows have the
	// largest seq; gaps left by REPLACE only make the ledger keep fewer.
	if _, err := tx.ExecContext(ctx, `DELETE FROM delivered WHERE seq <= (SELECT max(seq) FROM delivered) - ?`, maxIDs); err != nil {
		return fmt.Errorf("pruning the delivered ledger: %w", err)
	}
	return nil
}

// ledgerMax is LedgerMaxIDs, lowered by tests.
func (q *Queue) ledgerMax() int {
	if q.maxDelivered > 0 {
		return q.maxDelivered
	}
	return LedgerMaxIDs
}

// DeliveredCount returns how many ids the ledger holds (reports, tests).
func (q *Queue) DeliveredCount(ctx context.Context) (int, error) {
	var n int
	if err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM delivered`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting delivered events: %w", err)
	}
	return n, nil
}
