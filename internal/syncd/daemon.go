// Package syncd is the sync daemon: the loopback control plane, its records
// under the runtime root, and its retirement tick (SPEC §4, §9).
package syncd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
	"github.com/spec-kitty/spec-kitty/internal/memtrim"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/uploader"
)

// shutdownGrace bounds a graceful exit: in-flight requests finish, queued
// work stays in the queue. Longer than any control request, far shorter than
// a cleaner's wait before it escalates to SIGTERM.
const shutdownGrace = 2 * time.Second

// Config is what a daemon is started with.
type Config struct {
	Port    int
	Layout  paths.Layout
	Exec    string // the spawning executable, from --spec-kitty-daemon-exec
	Marker  string // the scope marker, from --spec-kitty-daemon-root; "" pre-marker
	Token   string
	Version string
	Logger  *slog.Logger
	// Ready, when set, is told once: the bind error of a lost port race,
	// or nil when the daemon is ready to serve.
	Ready func(error)
	// LogRotationError, when set, says why the daemon's log could not be
	// rotated ("" while it can); health reports it.
	LogRotationError func() string
}

// Daemon is one running sync daemon.
type Daemon struct {
	cfg       Config
	startedAt time.Time
	exe       string
	log       *slog.Logger

	stopOnce sync.Once
	stop     chan string // reason the daemon is exiting

	control loopback.Control
	queue   *queue.Queue
	up      *uploader.Uploader

	mu          sync.Mutex
	lastAuthReq time.Time

	// trim gives memory back once the daemon is quiet (http.go).
	trim *memtrim.Trimmer
}

// New prepares a daemon; Run starts it.
func New(cfg Config) *Daemon {
	exe, _ := os.Executable()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now().UTC()
	d := &Daemon{
		cfg:         cfg,
		startedAt:   now,
		exe:         exe,
		log:         log.With("pid", os.Getpid(), "port", cfg.Port, "family", api.FamilySync),
		stop:        make(chan string, 1),
		lastAuthReq: now,
	}
	d.control = loopback.Control{Token: cfg.Token, Stop: d.requestStop, OnAuth: d.touch}
	d.trim = memtrim.Start(trimQuiet)
	return d
}

// Run binds the port, writes the daemon's records and serves until ctx ends,
// an authenticated shutdown arrives or the daemon retires.
func (d *Daemon) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback.Addr, strconv.Itoa(d.cfg.Port)))
	if err != nil {
		if d.cfg.Ready != nil {
			d.cfg.Ready(err) // the spawner tries the next port
		}
		return fmt.Errorf("binding port %d: %w", d.cfg.Port, err)
	}
	stopWork, err := d.startWork(ctx)
	if err != nil {
		ln.Close()
		if d.cfg.Ready != nil {
			d.cfg.Ready(&spawn.QueueError{Path: d.cfg.Layout.QueueDB(), Cause: innermost(err).Error()})
		}
		return fmt.Errorf("opening the queue: %w", err)
	}
	defer stopWork()
	if err := d.writeRecords(); err != nil {
		ln.Close()
		return err
	}
	defer d.removeRecords()
	tickCtx, stopTick := context.WithCancel(ctx)
	defer stopTick()
	tick, idle := Timing()
	go d.retireLoop(tickCtx, tick, idle)
	// Ready only once the queue and records are in place. A queue that
	// cannot be opened is reported above, with its cause; any other setup
	// failure exits without a report: the spawner sees the pipe close and
	// points at the log instead of trying another port.
	if d.cfg.Ready != nil {
		d.cfg.Ready(nil)
	}

	d.log.Info("sync daemon started", "version", d.cfg.Version, "scope", d.cfg.Layout.ScopeID())
	_, err = loopback.Serve(ctx, ln, loopback.Guard(d.routes(), false), d.log, d.stop, shutdownGrace)
	return err
}

// innermost is the error at the end of err's chain: the cause without the
// "opening queue <path>:" context, which the report names itself.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// requestStop ends Run with reason; later calls are ignored.
func (d *Daemon) requestStop(reason string) {
	d.stopOnce.Do(func() { d.stop <- reason })
}

// touch records an authenticated request for the idle clock.
func (d *Daemon) touch() {
	d.mu.Lock()
	d.lastAuthReq = time.Now()
	d.mu.Unlock()
}
