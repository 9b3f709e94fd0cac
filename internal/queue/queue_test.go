package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/events"
)

const testProject = "550e8400-e29b-41d4-a716-446655440000"

func openTemp(t testing.TB) (*Queue, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sync-daemon-queue.db")
	q, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q, path
}

// envelope builds a valid envelope with a fresh id.
func envelope(t testing.TB, id string) events.Envelope {
	t.Helper()
	env, _, err := events.Build(events.Request{
		Type:          "ErrorLogged",
		AggregateID:   "agg-1",
		AggregateType: "Mission",
		Payload:       json.RawMessage(`{"error_type":"x","error_message":"y"}`),
		EventID:       id,
		Project:       events.Project{UUID: testProject, BuildID: "build-1"},
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return env
}

func mustPublish(t testing.TB, q *Queue) Published {
	t.Helper()
	p, err := q.Publish(context.Background(), envelope(t, ""))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return p
}

func mustCounts(t testing.TB, q *Queue) Counts {
	t.Helper()
	c, err := q.Counts(context.Background())
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	return c
}

func eventIDs(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.EventID
	}
	return out
}

func TestOpen_CreatesPrivateFileWithMarker(t *testing.T) {
	q, path := openTemp(t)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("queue mode = %o, want 600", got)
		}
	}
	var (
		kind    string
		version int
		mode    string
	)
	if err := q.r.QueryRow(`SELECT kind, schema_version FROM store_marker`).Scan(&kind, &version); err != nil {
		t.Fatal(err)
	}
	if kind != StoreKind || version != SchemaVersion {
		t.Errorf("marker = %q v%d, want %q v%d", kind, version, StoreKind, SchemaVersion)
	}
	if err := q.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// foreignDB writes an SQLite file shaped like someone else's queue (the
// Python CLI's queue.db) and returns its bytes.
func foreignDB(t *testing.T, path string, stmts ...string) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOpen_ForeignStoreRefusedAndUntouched(t *testing.T) {
	tests := []struct {
		name  string
		stmts []string
	}{
		{"python queue", []string{`CREATE TABLE queue (id INTEGER PRIMARY KEY, event_id TEXT, data TEXT)`, `INSERT INTO queue (event_id, data) VALUES ('e1', '{}')`}},
		{"other kind", []string{`CREATE TABLE store_marker (kind TEXT, schema_version INTEGER)`, `INSERT INTO store_marker VALUES ('python-offline-queue', 1)`}},
		{"newer version", []string{`CREATE TABLE store_marker (kind TEXT, schema_version INTEGER)`, fmt.Sprintf(`INSERT INTO store_marker VALUES ('%s', %d)`, StoreKind, SchemaVersion+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sync-daemon-queue.db")
			before := foreignDB(t, path, tt.stmts...)
			q, err := Open(path)
			if err == nil {
				q.Close()
				t.Fatal("Open of a foreign store succeeded")
			}
			if _, err := ReadCounts(path); err == nil {
				t.Error("ReadCounts of a foreign store succeeded")
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the foreign file was altered")
			}
			for _, side := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(path + side); err == nil {
					t.Errorf("%s%s was created", path, side)
				}
			}
		})
	}
}

func TestReadCounts_MissingAndEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	if c, err := ReadCounts(missing); err != nil || c != (Counts{}) {
		t.Errorf("ReadCounts(missing) = %+v, %v", c, err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Error("ReadCounts created the file")
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadCounts(empty); err != nil || c != (Counts{}) {
		t.Errorf("ReadCounts(empty) = %+v, %v", c, err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a database, just some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCounts(garbage); err == nil {
		t.Error("ReadCounts(garbage) succeeded")
	}
	if _, err := Open(garbage); err == nil {
		t.Error("Open(garbage) succeeded")
	}
}

func TestPublish_SameEventIDQueuesOnce(t *testing.T) {
	q, path := openTemp(t)
	env := envelope(t, "")
	first, err := q.Publish(context.Background(), env)
	if err != nil || first.Existed {
		t.Fatalf("first publish: %+v, %v", first, err)
	}
	again, err := q.Publish(context.Background(), env)
	if err != nil || !again.Existed || again.LamportClock != first.LamportClock {
		t.Fatalf("retry: %+v, %v; want existed with clock %d", again, err, first.LamportClock)
	}
	if c, err := ReadCounts(path); err != nil || c.Depth != 1 {
		t.Errorf("ReadCounts = %+v, %v; want depth 1", c, err)
	}
}

func TestPublish_StampsNodeAndMonotonicClockAcrossHandles(t *testing.T) {
	q, path := openTemp(t)
	q2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	var wg sync.WaitGroup
	for _, h := range []*Queue{q, q2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := h.Publish(context.Background(), envelope(t, "")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	items, err := q.Peek(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 50 {
		t.Fatalf("queued %d, want 50", len(items))
	}
	node, _ := q.NodeID(context.Background())
	for i, it := range items {
		var env events.Envelope
		if err := json.Unmarshal(it.Envelope, &env); err != nil {
			t.Fatal(err)
		}
		if env.LamportClock != int64(i+1) {
			t.Errorf("event %d has lamport_clock %d, want %d (commit order)", i, env.LamportClock, i+1)
		}
		if env.NodeID != node || node == "" {
			t.Errorf("node_id %q, want %q", env.NodeID, node)
		}
		if err := events.Validate(it.Envelope); err != nil {
			t.Errorf("queued envelope invalid: %v", err)
		}
	}
}

func TestPublish_FullQueueRefuses(t *testing.T) {
	q, _ := openTemp(t)
	q.maxEvents = 3
	for range 3 {
		mustPublish(t, q)
	}
	_, err := q.Publish(context.Background(), envelope(t, ""))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("publish into a full queue: %v, want ErrFull", err)
	}
	if c := mustCounts(t, q); c.Depth != 3 {
		t.Errorf("depth %d, want 3", c.Depth)
	}
}

func TestPublish_InvalidNothingQueued(t *testing.T) {
	q, _ := openTemp(t)
	env := envelope(t, "")
	env.AggregateType = "Feature"
	if _, err := q.Publish(context.Background(), env); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("err = %v, want ErrInvalidEvent", err)
	}
	if c := mustCounts(t, q); c.Depth != 0 {
		t.Errorf("depth %d after a refused publish", c.Depth)
	}
}

func TestParkRejectUnpark(t *testing.T) {
	q, path := openTemp(t)
	ctx := context.Background()
	a, b, c := mustPublish(t, q), mustPublish(t, q), mustPublish(t, q)
	if err := q.Park(ctx, []string{a.EventID}, "oversized event"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := q.Reject(ctx, []string{b.EventID}, fmt.Sprintf("rejected %d", i), 3); err != nil {
			t.Fatal(err)
		}
	}
	ready, err := q.Peek(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(ready); len(got) != 1 || got[0] != c.EventID {
		t.Errorf("upload loop holds %v, want only %s", got, c.EventID)
	}
	parked, err := q.Parked(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 || parked[0].LastError != "oversized event" || parked[1].RetryCount != 3 || parked[1].LastError != "rejected 2" {
		t.Errorf("parked = %+v", parked)
	}
	if counts, err := ReadCounts(path); err != nil || counts != (Counts{Depth: 3, Parked: 2}) {
		t.Errorf("ReadCounts = %+v, %v", counts, err)
	}
	n, err := q.Unpark(ctx, nil)
	if err != nil || n != 2 {
		t.Fatalf("Unpark = %d, %v", n, err)
	}
	if ready, _ := q.Peek(ctx, 10); len(ready) != 3 || ready[1].RetryCount != 0 {
		t.Errorf("after unpark: %+v", ready)
	}
}

func TestDelete_RemovesExactlyThoseIDs(t *testing.T) {
	q, _ := openTemp(t)
	var ids []string
	for range 1200 {
		ids = append(ids, mustPublish(t, q).EventID)
	}
	if err := q.Delete(context.Background(), append(ids[:1100:1100], "not-queued")); err != nil {
		t.Fatal(err)
	}
	left, err := q.Peek(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 100 || left[0].EventID != ids[1100] {
		t.Errorf("left %d events starting %v", len(left), eventIDs(left[:1]))
	}
	if q.CachedDepth() != 100 {
		t.Errorf("CachedDepth = %d", q.CachedDepth())
	}
}

func TestOpen_PathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%20d", "sync-daemon-queue.db")
	q, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustPublish(t, q)
	q.Close()
	if n, err := ReadDepth(path); err != nil || n != 1 {
		t.Errorf("ReadDepth = %d, %v; want 1", n, err)
	}
}

func BenchmarkPublish(b *testing.B) {
	q, _ := openTemp(b)
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
