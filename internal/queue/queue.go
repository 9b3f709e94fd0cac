// Package queue is the sync daemon's durable event queue: an SQLite database
// in WAL mode under the runtime root (SPEC §3, §10). An event is committed to
// disk before Publish returns and leaves the queue only through Delete, after
// the server accepted it, so no kill of any process loses an accepted event.
//
// This is the only package that imports the SQLite driver.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// busyTimeoutMillis is how long a statement waits for another connection's
// write lock before failing with SQLITE_BUSY. Writers hold the lock for one
// small transaction (milliseconds), and a killed daemon's successor or a CLI
// reading the depth may open the file at the same moment; 5 s absorbs a slow
// fsync or a checkpoint in another process, yet a lock that never clears
// surfaces as an error instead of hanging a publish forever.
const busyTimeoutMillis = 5000

// maxReaders bounds the read-only connection pool. Reads (Peek, Depth) are
// few and short; a handful lets health, status and the uploader read at the
// same time without holding many file descriptors.
const maxReaders = 4

// StoreKind names this store in its marker table. A file whose marker
// names another kind, or that has tables and no marker, belongs to someone
// else (the Python CLI's queue.db, say) and is refused, never altered.
const StoreKind = "spec-kitty-go-sync-daemon-queue"

// SchemaVersion is the marker's schema version. A file written by a newer
// build is refused rather than misread; one written by an older build of
// this store is migrated in place (migrations), never refused.
//
//	1: events and meta
//	2: + delivered, the ledger of delivered event ids
const SchemaVersion = 2

// MaxEvents bounds the queue. A publish into a full queue is refused with
// ErrFull: never a silent drop, and a machine offline for weeks cannot fill
// the disk.
const MaxEvents = 100_000

const schema = `
CREATE TABLE store_marker (
	kind           TEXT    NOT NULL,
	schema_version INTEGER NOT NULL
);
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE events (
	seq          INTEGER PRIMARY KEY,
	event_id     TEXT    NOT NULL UNIQUE,
	project_uuid TEXT    NOT NULL,
	envelope     TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	retry_count  INTEGER NOT NULL DEFAULT 0,
	parked_at    INTEGER,
	last_error   TEXT
);
CREATE INDEX events_ready ON events (parked_at, seq);
` + ledgerSchema

// ledgerSchema is what schema version 2 added: the ids of delivered events,
// so that a publish of one of them queues nothing (ledger.go).
const ledgerSchema = `
CREATE TABLE delivered (
	seq          INTEGER PRIMARY KEY,
	event_id     TEXT    NOT NULL UNIQUE,
	delivered_at INTEGER NOT NULL
);
CREATE INDEX delivered_age ON delivered (delivered_at);
`

// migrations[v] turns schema version v into v+1. Each runs in the
// transaction that checked the marker, together with the marker's update,
// so a crash leaves the old version or the new one, never half of one.
var migrations = map[int]string{
	1: ledgerSchema,
}

// Queue is an open event queue. It is safe for concurrent use, and several
// Queues (in one process or many) may have the same file open.
type Queue struct {
	path string
	// w is the single writing connection: writers of one process queue in
	// database/sql instead of sleeping in SQLite's busy handler.
	w *sql.DB
	// r is a pool of read-only connections; in WAL mode readers never wait
	// for the writer.
	r *sql.DB
	// depth is this handle's view of the number of queued events: set by
	// Depth and moved by this handle's own Publish and Delete.
	depth atomic.Int64
	// maxEvents is MaxEvents, lowered by tests.
	maxEvents int
	// parked is the number of parked events as of the last Depth.
	parked atomic.Int64
	// maxDelivered is LedgerMaxIDs when zero, lowered by tests.
	maxDelivered int
}

// Open opens the queue at path, creating the file (mode 0600), its directory
// (0700) and the schema when missing.
func Open(path string) (*Queue, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving queue path %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}
	// No pragma that writes (journal_mode) runs before the marker check:
	// a foreign file is left exactly as it was.
	w, err := openDB(abs, "_txlock=immediate", "_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w, abs); err != nil {
		w.Close()
		return nil, err
	}
	if err := setWAL(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("switching queue %s to WAL: %w", abs, err)
	}
	r, err := openDB(abs, "_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(maxReaders)
	q := &Queue{path: abs, w: w, r: r, maxEvents: MaxEvents}
	if _, err := q.Depth(context.Background()); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// Path returns the absolute path of the database file.
func (q *Queue) Path() string { return q.path }

// Close closes the queue. Queued events stay on disk.
func (q *Queue) Close() error {
	return errors.Join(q.r.Close(), q.w.Close())
}

// Counts are the queue's numbers for status reports.
type Counts struct {
	// Depth counts every queued event, parked ones included.
	Depth int
	// Parked counts the events out of the upload loop.
	Parked int
}

// ReadDepth returns the number of queued events in the database at path
// without creating anything: a missing file is an empty queue. It serves
// `sync status` when no daemon runs.
func ReadDepth(path string) (int, error) {
	c, err := ReadCounts(path)
	return c.Depth, err
}

// ReadCounts reads the depth and the parked count of the queue at path,
// read-only: a missing or not yet initialised file is an empty queue, and a
// foreign file is an error.
func ReadCounts(path string) (Counts, error) {
	return readCounts(path, "")
}

// ReadProjectCounts is ReadCounts for the events of one project: what the
// dashboard of that project shows.
func ReadProjectCounts(path, projectUUID string) (Counts, error) {
	return readCounts(path, projectUUID)
}

// readCounts counts the queue at path, only project's events when project
// is not "".
func readCounts(path, project string) (Counts, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Counts{}, fmt.Errorf("resolving queue path %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return Counts{}, nil
	} else if err != nil {
		return Counts{}, fmt.Errorf("reading queue %s: %w", abs, err)
	} else if fi.Size() == 0 {
		return Counts{}, nil // created but not yet initialised by its first Open
	}
	db, err := openDB(abs, "mode=ro")
	if err != nil {
		return Counts{}, err
	}
	defer db.Close()
	ctx := context.Background()
	if fresh, err := checkMarker(ctx, db, abs); err != nil {
		return Counts{}, err
	} else if fresh {
		return Counts{}, nil
	}
	var c Counts
	if project == "" {
		err = db.QueryRowContext(ctx, `SELECT count(*), count(parked_at) FROM events`).Scan(&c.Depth, &c.Parked)
	} else {
		err = db.QueryRowContext(ctx, `SELECT count(*), count(parked_at) FROM events WHERE project_uuid = ?`, project).Scan(&c.Depth, &c.Parked)
	}
	if err != nil {
		return Counts{}, fmt.Errorf("counting queued events in %s: %w", abs, err)
	}
	return c, nil
}

// createFile makes sure the database file exists with mode 0600 before
// SQLite opens it; SQLite gives its -wal and -shm files the same mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating queue directory: %w", err)
	}
	f, err := paths.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600) // no symlink, no FIFO
	if errors.Is(err, os.ErrExist) {
		// An existing file is checked by its marker, never changed; it must
		// still be a regular file, not a link or a FIFO.
		if f, err = paths.Open(path); err != nil {
			return fmt.Errorf("opening queue %s: %w", path, err)
		}
		return f.Close()
	}
	if err != nil {
		return fmt.Errorf("creating queue %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("restricting queue %s to its owner: %w", path, err)
	}
	return nil
}

// walRetry is the pause between tries of the switch to WAL.
const walRetry = 10 * time.Millisecond

// setWAL switches the database to WAL mode. Two processes opening one
// rollback-journal file at once (a daemon and a CLI, or two daemons) can
// make the switch fail with SQLITE_BUSY at once: SQLite does not call its
// busy handler there, to avoid a deadlock between the two lock upgrades.
// So retry for as long as the busy timeout would have waited.
func setWAL(db *sql.DB) error {
	deadline := time.Now().Add(busyTimeoutMillis * time.Millisecond)
	for {
		_, err := db.Exec(`PRAGMA journal_mode = WAL`)
		var serr *sqlite.Error
		if err == nil || !errors.As(err, &serr) || serr.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(walRetry)
	}
}

// openDB opens path through an SQLite URI so that no character of the path
// can be read as a query parameter.
func openDB(path string, params ...string) (*sql.DB, error) {
	slashed := filepath.ToSlash(path)
	if !strings.HasPrefix(slashed, "/") {
		slashed = "/" + slashed // a Windows drive path: file:///C:/…
	}
	u := url.URL{Scheme: "file", Path: slashed}
	query := append([]string{fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMillis)}, params...)
	dsn := u.String() + "?" + strings.Join(query, "&")
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening queue %s: %w", path, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening queue %s: %w", path, err)
	}
	return db, nil
}

// ErrForeignStore reports a database that is not this daemon's queue.
var ErrForeignStore = errors.New("not a spec-kitty sync daemon queue")

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// checkMarker reports whether the database is empty (fresh), and refuses
// one whose marker is missing, foreign or newer.
func checkMarker(ctx context.Context, db querier, path string) (fresh bool, err error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return false, fmt.Errorf("reading queue %s: %w", path, err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return false, fmt.Errorf("reading queue %s: %w", path, err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("reading queue %s: %w", path, err)
	}
	if len(tables) == 0 {
		return true, nil
	}
	if !slices.Contains(tables, "store_marker") {
		return false, fmt.Errorf("queue %s: %w (it has tables %s and no store marker); it was left untouched — move it aside to start a new queue",
			path, ErrForeignStore, strings.Join(tables, ", "))
	}
	var (
		kind    string
		version int
	)
	if err := db.QueryRowContext(ctx, `SELECT kind, schema_version FROM store_marker LIMIT 1`).Scan(&kind, &version); err != nil {
		return false, fmt.Errorf("queue %s: %w (unreadable store marker: %v); it was left untouched", path, ErrForeignStore, err)
	}
	if kind != StoreKind {
		return false, fmt.Errorf("queue %s: %w (its store kind is %q); it was left untouched", path, ErrForeignStore, kind)
	}
	if version > SchemaVersion {
		return false, fmt.Errorf("queue %s has schema version %d; this build understands up to %d (it was left untouched)", path, version, SchemaVersion)
	}
	if version < 1 {
		return false, fmt.Errorf("queue %s: %w (schema version %d); it was left untouched", path, ErrForeignStore, version)
	}
	return false, nil
}

// schemaVersion reads the marker's version of a file checkMarker accepted.
func schemaVersion(ctx context.Context, db querier) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT schema_version FROM store_marker LIMIT 1`).Scan(&v)
	return v, err
}

// migrate creates the schema in a new file, brings one of an older
// version of this store up to SchemaVersion, or checks that an existing
// one is ours. The writer's transactions are immediate, so two daemons
// opening an old file at once migrate it once.
func migrate(db *sql.DB, path string) error {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("initialising queue %s: %w", path, err)
	}
	defer tx.Rollback()
	fresh, err := checkMarker(ctx, tx, path)
	if err != nil {
		return err
	}
	if fresh {
		if _, err := tx.Exec(schema); err != nil {
			return fmt.Errorf("creating queue schema in %s: %w", path, err)
		}
		if _, err := tx.Exec(`INSERT INTO store_marker (kind, schema_version) VALUES (?, ?)`, StoreKind, SchemaVersion); err != nil {
			return fmt.Errorf("writing the store marker of %s: %w", path, err)
		}
	} else if err := upgrade(ctx, tx, path); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("initialising queue %s: %w", path, err)
	}
	return nil
}

// upgrade applies the migrations from the file's version to SchemaVersion.
// Queued events, the node id and the Lamport clock are kept as they are.
func upgrade(ctx context.Context, tx *sql.Tx, path string) error {
	from, err := schemaVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("reading the schema version of queue %s: %w", path, err)
	}
	for v := from; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrating queue %s from schema version %d to %d: %w", path, v, v+1, err)
		}
	}
	if from == SchemaVersion {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE store_marker SET schema_version = ?`, SchemaVersion); err != nil {
		return fmt.Errorf("recording schema version %d in queue %s: %w", SchemaVersion, path, err)
	}
	return nil
}

// ReadParked lists up to limit parked events of the queue at path,
// read-only; a missing file has none.
func ReadParked(path string, limit int) ([]Item, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving queue path %s: %w", path, err)
	}
	if fi, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading queue %s: %w", abs, err)
	}
	db, err := openDB(abs, "mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if fresh, err := checkMarker(context.Background(), db, abs); err != nil || fresh {
		return nil, err
	}
	q := &Queue{path: abs, r: db}
	return q.Parked(context.Background(), limit)
}
