package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func openTemp(t testing.TB) (*Queue, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q, path
}

func mustPublish(t testing.TB, q *Queue, typ, data string) Event {
	t.Helper()
	ev, err := q.Publish(context.Background(), typ, json.RawMessage(data))
	if err != nil {
		t.Fatalf("Publish(%q, %s): %v", typ, data, err)
	}
	return ev
}

func mustDepth(t testing.TB, q *Queue) int {
	t.Helper()
	n, err := q.Depth(context.Background())
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	return n
}

func ids(events []Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.ID
	}
	return out
}

func TestOpen_CreatesPrivateFileAndDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "queue.db")
	q, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer q.Close()
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("queue mode = %o, want 600", got)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("queue directory mode = %o, want 700", got)
	}
	var mode string
	if err := q.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestPublish_SurvivesCloseAndReopen(t *testing.T) {
	q, path := openTemp(t)
	want := mustPublish(t, q, "spec.created", `{"n": 1}`)
	if err := q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	q2, err := Open(path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer q2.Close()
	got, err := q2.Peek(context.Background(), 10)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("after reopen got %d events, want 1", len(got))
	}
	if got[0].ID != want.ID || got[0].Type != want.Type || string(got[0].Data) != `{"n":1}` ||
		!got[0].CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("after reopen got %+v, want %+v", got[0], want)
	}
	if n := q2.CachedDepth(); n != 1 {
		t.Errorf("CachedDepth after reopen = %d, want 1", n)
	}
}

func TestPeek_OldestFirstAndLimited(t *testing.T) {
	q, _ := openTemp(t)
	var published []string
	for i := range 5 {
		published = append(published, mustPublish(t, q, "t", fmt.Sprint(i)).ID)
	}
	got, err := q.Peek(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids(got)) != fmt.Sprint(published[:3]) {
		t.Errorf("Peek(3) = %v, want %v", ids(got), published[:3])
	}
	for i, ev := range got {
		if string(ev.Data) != fmt.Sprint(i) {
			t.Errorf("event %d data = %s, want %d", i, ev.Data, i)
		}
	}
	if _, err := q.Peek(context.Background(), 0); err == nil {
		t.Error("Peek(0) succeeded, want an error")
	}
}

func TestDelete_RemovesExactlyThoseIDs(t *testing.T) {
	q, _ := openTemp(t)
	a := mustPublish(t, q, "t", `"a"`)
	b := mustPublish(t, q, "t", `"b"`)
	c := mustPublish(t, q, "t", `"c"`)
	ctx := context.Background()
	if err := q.Delete(ctx, []string{a.ID, c.ID, "not-queued"}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	got, err := q.Peek(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("after delete queue holds %v, want [%s]", ids(got), b.ID)
	}
	if n := q.CachedDepth(); n != 1 {
		t.Errorf("CachedDepth = %d, want 1", n)
	}
	if n := mustDepth(t, q); n != 1 {
		t.Errorf("Depth = %d, want 1", n)
	}
	if err := q.Delete(ctx, nil); err != nil {
		t.Errorf("Delete(nil): %v", err)
	}
}

func TestDelete_ManyIDsInChunks(t *testing.T) {
	q, _ := openTemp(t)
	ctx := context.Background()
	n := deleteChunk*2 + 7
	var all []string
	for range n {
		all = append(all, mustPublish(t, q, "t", `1`).ID)
	}
	if err := q.Delete(ctx, all); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if d := mustDepth(t, q); d != 0 {
		t.Errorf("Depth = %d, want 0", d)
	}
}

func TestPublish_ConcurrentGoroutines(t *testing.T) {
	q, _ := openTemp(t)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := q.Publish(context.Background(), "t", json.RawMessage(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Publish: %v", err)
	}
	if n := q.CachedDepth(); n != workers*each {
		t.Errorf("CachedDepth = %d, want %d", n, workers*each)
	}
	if n := mustDepth(t, q); n != workers*each {
		t.Errorf("Depth = %d, want %d", n, workers*each)
	}
}

func TestTwoHandles_OneFile(t *testing.T) {
	q1, path := openTemp(t)
	q2, err := Open(path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer q2.Close()

	var wg sync.WaitGroup
	for _, q := range []*Queue{q1, q2} {
		wg.Go(func() {
			for range 20 {
				if _, err := q.Publish(context.Background(), "t", nil); err != nil {
					t.Errorf("Publish: %v", err)
				}
			}
		})
	}
	wg.Wait()

	got, err := q2.Peek(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("second handle sees %d events, want 40", len(got))
	}
	if err := q2.Delete(context.Background(), ids(got[:10])); err != nil {
		t.Fatal(err)
	}
	if n := mustDepth(t, q1); n != 30 {
		t.Errorf("first handle Depth = %d, want 30", n)
	}
	if n, err := ReadDepth(path); err != nil || n != 30 {
		t.Errorf("ReadDepth while open = %d, %v; want 30", n, err)
	}
}

func TestPublish_Invalid_NothingQueued(t *testing.T) {
	q, _ := openTemp(t)
	long := make([]byte, MaxTypeLen+1)
	for i := range long {
		long[i] = 'x'
	}
	cases := []struct {
		name string
		ev   Event
	}{
		{"invalid JSON", Event{Type: "t", Data: json.RawMessage(`{"a":`)}},
		{"trailing garbage", Event{Type: "t", Data: json.RawMessage(`{} x`)}},
		{"empty type", Event{Type: "", Data: json.RawMessage(`{}`)}},
		{"long type", Event{Type: string(long), Data: json.RawMessage(`{}`)}},
		{"control character in type", Event{Type: "a\nb"}},
		{"bad id", Event{ID: "has space", Type: "t"}},
		{"huge data", Event{Type: "t", Data: json.RawMessage(`"` + string(make([]byte, MaxDataBytes)) + `"`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := q.PublishEvent(context.Background(), tc.ev)
			if !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("PublishEvent error = %v, want ErrInvalidEvent", err)
			}
		})
	}
	if n := mustDepth(t, q); n != 0 {
		t.Errorf("Depth after invalid publishes = %d, want 0", n)
	}
}

func TestPublish_EmptyDataIsNull(t *testing.T) {
	q, _ := openTemp(t)
	ev := mustPublish(t, q, "t", "")
	if string(ev.Data) != "null" {
		t.Errorf("data = %s, want null", ev.Data)
	}
	if len(ev.ID) != 36 {
		t.Errorf("generated id %q is not a UUID", ev.ID)
	}
}

func TestPublishEvent_CallerIDIsIdempotent(t *testing.T) {
	q, _ := openTemp(t)
	ctx := context.Background()
	at := time.Date(2026, 6, 30, 10, 40, 0, 0, time.UTC)
	first, err := q.PublishEvent(ctx, Event{ID: "client-1", Type: "t", Data: json.RawMessage(`1`), CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	again, err := q.PublishEvent(ctx, Event{ID: "client-1", Type: "t", Data: json.RawMessage(`2`)})
	if err != nil {
		t.Fatalf("republishing: %v", err)
	}
	if string(again.Data) != "1" || !again.CreatedAt.Equal(at) || first.ID != again.ID {
		t.Errorf("republish returned %+v, want the stored %+v", again, first)
	}
	if n := mustDepth(t, q); n != 1 {
		t.Errorf("Depth = %d, want 1", n)
	}
}

func TestReadDepth_MissingFile_CreatesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	n, err := ReadDepth(path)
	if err != nil || n != 0 {
		t.Fatalf("ReadDepth(missing) = %d, %v; want 0, nil", n, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("ReadDepth created %v", entries)
	}
	if _, err := ReadDepth(filepath.Join(dir, "missing-dir", "queue.db")); err != nil {
		t.Errorf("ReadDepth in a missing directory: %v", err)
	}
}

func TestReadDepth_AfterClose(t *testing.T) {
	q, path := openTemp(t)
	mustPublish(t, q, "t", `1`)
	mustPublish(t, q, "t", `2`)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := ReadDepth(path)
	if err != nil || n != 2 {
		t.Errorf("ReadDepth = %d, %v; want 2, nil", n, err)
	}
}

func TestReadDepth_EmptyAndGarbageFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := ReadDepth(empty); err != nil || n != 0 {
		t.Errorf("ReadDepth(empty file) = %d, %v; want 0, nil", n, err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a database, just some text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDepth(garbage); err == nil {
		t.Error("ReadDepth(garbage) succeeded, want an error")
	}
	if _, err := Open(garbage); err == nil {
		t.Error("Open(garbage) succeeded, want an error")
	}
}

func TestOpen_NewerSchemaRefused(t *testing.T) {
	q, path := openTemp(t)
	if _, err := q.w.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if _, err := Open(path); err == nil {
		t.Error("Open of a newer schema succeeded, want an error")
	}
}

func TestOpen_PathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%20d", "queue.db")
	q, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustPublish(t, q, "t", `1`)
	q.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %s: %v", path, err)
	}
	if n, err := ReadDepth(path); err != nil || n != 1 {
		t.Errorf("ReadDepth = %d, %v; want 1, nil", n, err)
	}
}

func BenchmarkPublish(b *testing.B) {
	q, _ := openTemp(b)
	ctx := context.Background()
	data := json.RawMessage(`{"mission":"m-1","status":"done","n":42}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := q.Publish(ctx, "mission.updated", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishParallel(b *testing.B) {
	q, _ := openTemp(b)
	ctx := context.Background()
	data := json.RawMessage(`{"mission":"m-1","status":"done","n":42}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Publish(ctx, "mission.updated", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
