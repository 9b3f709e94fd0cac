package queue

import (
	"context"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/events"
)

// fillLedger puts n old-enough-to-keep ids in the ledger, as a machine that
// delivered for weeks has.
func fillLedger(b *testing.B, q *Queue, n int) {
	b.Helper()
	_, err := q.w.Exec(`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
		INSERT INTO delivered (event_id, delivered_at) SELECT printf('fill-%08d', i), ? FROM k`, n, time.Now().UnixNano())
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDeliverBatch is the uploader's verdict for a full batch: 1,000
// events deleted and recorded in a ledger that is at its bound, so every
// batch also prunes 1,000 ids. Publishing the batch is not timed.
func BenchmarkDeliverBatch(b *testing.B) {
	q, _ := openTemp(b)
	fillLedger(b, q, LedgerMaxIDs)
	ctx := context.Background()
	env := envelope(b, "")
	ids := make([]string, 1000)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range ids {
			env.EventID = events.NewID(time.Now())
			ids[i] = env.EventID
			if _, err := q.Publish(ctx, env); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := q.Delete(ctx, ids); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishFullLedger is a publish checked against a ledger at its
// bound.
func BenchmarkPublishFullLedger(b *testing.B) {
	q, _ := openTemp(b)
	fillLedger(b, q, LedgerMaxIDs)
	ctx := context.Background()
	env := envelope(b, "")
	b.ReportAllocs()
	for b.Loop() {
		env.EventID = events.NewID(time.Now())
		if _, err := q.Publish(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
}
