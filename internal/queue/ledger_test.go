package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/events"
)

// schemaV1 is the queue as schema version 1 wrote it, frozen here: the
// migration must keep such a file's events, node id and clock.
const schemaV1 = `
CREATE TABLE store_marker (kind TEXT NOT NULL, schema_version INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
	seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, project_uuid TEXT NOT NULL,
	envelope TEXT NOT NULL, created_at INTEGER NOT NULL, retry_count INTEGER NOT NULL DEFAULT 0,
	parked_at INTEGER, last_error TEXT
);
CREATE INDEX events_ready ON events (parked_at, seq);
`

func TestOpen_MigratesSchemaV1KeepingTheQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sync-daemon-queue.db")
	old := envelope(t, "")
	old.NodeID, old.LamportClock = "node-v1", 41
	raw, _ := json.Marshal(old)
	foreignDB(t, path, schemaV1,
		fmt.Sprintf(`INSERT INTO store_marker VALUES ('%s', 1)`, StoreKind),
		`INSERT INTO meta VALUES ('node_id', 'node-v1'), ('lamport_clock', '41')`,
		fmt.Sprintf(`INSERT INTO events (event_id, project_uuid, envelope, created_at) VALUES ('%s', '%s', '%s', 1)`, old.EventID, testProject, raw),
	)
	// Read-only readers (sync status with no daemon) read it as it is.
	if c, err := ReadCounts(path); err != nil || c.Depth != 1 {
		t.Fatalf("ReadCounts of a schema 1 queue: %+v, %v", c, err)
	}
	q, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a schema 1 queue: %v", err)
	}
	defer q.Close()
	var version int
	if err := q.r.QueryRow(`SELECT schema_version FROM store_marker`).Scan(&version); err != nil || version != SchemaVersion {
		t.Fatalf("marker after migration: v%d, %v; want v%d", version, err, SchemaVersion)
	}
	items, err := q.Peek(context.Background(), 10)
	if err != nil || len(items) != 1 || items[0].EventID != old.EventID {
		t.Fatalf("queued after migration: %v, %v; want the v1 event", eventIDs(items), err)
	}
	p := mustPublish(t, q)
	if p.LamportClock != 42 {
		t.Errorf("clock after migration: %d, want 42 (the v1 clock kept)", p.LamportClock)
	}
	if node, _ := q.NodeID(context.Background()); node != "node-v1" {
		t.Errorf("node id after migration: %q, want node-v1", node)
	}
	if err := q.Delete(context.Background(), []string{old.EventID}); err != nil {
		t.Fatal(err)
	}
	if again, err := q.Publish(context.Background(), old); err != nil || !again.Delivered {
		t.Errorf("publish of the delivered v1 event: %+v, %v; want already delivered", again, err)
	}
	// A second open (another daemon of the scope) finds it current.
	q2, err := Open(path)
	if err != nil {
		t.Fatalf("reopening the migrated queue: %v", err)
	}
	q2.Close()
}

// Daemons of a scope starting at once open the old file together: the
// writer's immediate transactions make one of them migrate and the others
// find it current.
func TestOpen_ConcurrentOpensMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sync-daemon-queue.db")
	foreignDB(t, path, schemaV1, fmt.Sprintf(`INSERT INTO store_marker VALUES ('%s', 1)`, StoreKind))
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			q, err := Open(path)
			if err == nil {
				err = q.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open of a schema 1 queue: %v", err)
		}
	}
	q, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var markers, version int
	if err := q.r.QueryRow(`SELECT count(*), max(schema_version) FROM store_marker`).Scan(&markers, &version); err != nil || markers != 1 || version != SchemaVersion {
		t.Errorf("store marker: %d rows, v%d (%v); want one row at v%d", markers, version, err, SchemaVersion)
	}
}

func TestPublish_AfterDeliveryQueuesNothing(t *testing.T) {
	q, _ := openTemp(t)
	ctx := context.Background()
	env := envelope(t, "")
	first, err := q.Publish(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(ctx, []string{env.EventID}); err != nil {
		t.Fatal(err)
	}
	again, err := q.Publish(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Delivered || again.Existed {
		t.Errorf("publish after delivery: %+v; want Delivered", again)
	}
	if c := mustCounts(t, q); c.Depth != 0 {
		t.Errorf("depth %d after a publish of a delivered event, want 0", c.Depth)
	}
	// The clock did not move: nothing was stamped.
	next := mustPublish(t, q)
	if next.LamportClock != first.LamportClock+1 {
		t.Errorf("clock %d after the refused publish, want %d", next.LamportClock, first.LamportClock+1)
	}
}

func TestLedger_ForgetsAfterRetentionAndBeyondTheBound(t *testing.T) {
	q, _ := openTemp(t)
	q.maxDelivered = 3
	ctx := context.Background()
	var ids []string
	for range 5 {
		p := mustPublish(t, q)
		ids = append(ids, p.EventID)
		if err := q.Delete(ctx, []string{p.EventID}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.DeliveredCount(ctx); err != nil || n != 3 {
		t.Fatalf("ledger holds %d (%v), want the bound 3", n, err)
	}
	// The oldest two were dropped: publishing them queues them again.
	for i, id := range ids {
		p, err := q.Publish(ctx, envelope(t, id))
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 2; p.Delivered != want {
			t.Errorf("event %d: delivered=%v, want %v", i, p.Delivered, want)
		}
	}
	// An entry older than the retention no longer counts, and the next
	// delivery prunes it.
	stale := time.Now().Add(-LedgerRetention - time.Hour).UnixNano()
	if _, err := q.w.Exec(`UPDATE delivered SET delivered_at = ? WHERE event_id = ?`, stale, ids[4]); err != nil {
		t.Fatal(err)
	}
	if p, err := q.Publish(ctx, envelope(t, ids[4])); err != nil || p.Delivered {
		t.Errorf("publish of an id delivered over 30 days ago: %+v, %v; want queued", p, err)
	}
	if err := q.Delete(ctx, []string{"01JMBY7K8N3QRVX2DPFG5HWT4E"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := q.r.QueryRow(`SELECT count(*) FROM delivered WHERE delivered_at < ?`, time.Now().Add(-LedgerRetention).UnixNano()).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d stale ledger entries after a delivery (%v), want 0", n, err)
	}
}

// The daemon stamps both node_id and lamport_clock or neither: an event
// another node (or the Python CLI, which names the same machine node id)
// stamped keeps its clock.
func TestPublish_StampsBothOrNeither(t *testing.T) {
	q, _ := openTemp(t)
	ctx := context.Background()
	node, err := q.NodeID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		node      string
		clock     int64
		wantNode  string
		wantClock int64 // 0: the queue's next value
	}{
		{"unstamped, this machine", events.DefaultNodeID(), 0, node, 0},
		{"other node with its clock", "python-node-7", 8, "python-node-7", 8},
		{"this machine's id, another CLI's clock", node, 8, node, 8},
		{"other node at clock 0", "other-node", 0, "other-node", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := envelope(t, "")
			env.NodeID, env.LamportClock = tt.node, tt.clock
			before := lastClock(t, q)
			p, err := q.Publish(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			got := queuedEnvelope(t, q, env.EventID)
			want := tt.wantClock
			switch want {
			case 0:
				want = before + 1
			case -1:
				want = 0
			}
			if got.NodeID != tt.wantNode || got.LamportClock != want || p.LamportClock != want {
				t.Errorf("queued node_id %q clock %d (answer %d); want %q, %d", got.NodeID, got.LamportClock, p.LamportClock, tt.wantNode, want)
			}
			// An event it did not stamp moves the queue's clock only up
			// to the event's (Lamport's receive rule).
			if tt.wantClock != 0 && lastClock(t, q) != max(before, want) {
				t.Errorf("the queue's clock went %d -> %d for an event stamped %d, want %d", before, lastClock(t, q), want, max(before, want))
			}
		})
	}
}

func lastClock(t *testing.T, q *Queue) int64 {
	t.Helper()
	var v sql.NullInt64
	if err := q.r.QueryRow(`SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'lamport_clock'`).Scan(&v); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return v.Int64
}

func queuedEnvelope(t *testing.T, q *Queue, id string) events.Envelope {
	t.Helper()
	var raw string
	if err := q.r.QueryRow(`SELECT envelope FROM events WHERE event_id = ?`, id).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var env events.Envelope
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		t.Fatal(err)
	}
	return env
}
