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
	"strings"
	"sync/atomic"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

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

// schemaVersion is stored in PRAGMA user_version. A database written by a
// newer build is refused rather than misread.
const schemaVersion = 1

const schema = `CREATE TABLE IF NOT EXISTS events (
	seq        INTEGER PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	type       TEXT    NOT NULL,
	data       TEXT    NOT NULL,
	created_at INTEGER NOT NULL
)`

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
	w, err := openDB(abs, "_txlock=immediate", "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := migrate(w, abs); err != nil {
		w.Close()
		return nil, err
	}
	r, err := openDB(abs, "_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(maxReaders)
	q := &Queue{path: abs, w: w, r: r}
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

// ReadDepth returns the number of queued events in the database at path
// without creating anything: a missing file is an empty queue. It serves
// `sync status` when no daemon runs.
func ReadDepth(path string) (int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("resolving queue path %s: %w", path, err)
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("reading queue %s: %w", abs, err)
	}
	db, err := openDB(abs, "mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ctx := context.Background()
	var tables int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'`).Scan(&tables)
	if err != nil {
		return 0, fmt.Errorf("reading queue %s: %w", abs, err)
	}
	if tables == 0 {
		// Created but not yet initialised by its first Open.
		return 0, nil
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting queued events in %s: %w", abs, err)
	}
	return n, nil
}

// createFile makes sure the database file exists with mode 0600 before
// SQLite opens it; SQLite gives its -wal and -shm files the same mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating queue directory: %w", err)
	}
	f, err := paths.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // no symlink, no FIFO
	if err != nil {
		return fmt.Errorf("creating queue %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("restricting queue %s to its owner: %w", path, err)
	}
	return nil
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

// migrate creates the schema, or checks that an existing one is ours.
func migrate(db *sql.DB, path string) error {
	tx, err := db.Begin()
	if err != nil {
		return fmt.Errorf("initialising queue %s: %w", path, err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("reading queue schema version of %s: %w", path, err)
	}
	if version > schemaVersion {
		return fmt.Errorf("queue %s has schema version %d; this build understands up to %d", path, version, schemaVersion)
	}
	if _, err := tx.Exec(schema); err != nil {
		return fmt.Errorf("creating queue schema in %s: %w", path, err)
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return fmt.Errorf("writing queue schema version of %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("initialising queue %s: %w", path, err)
	}
	return nil
}
