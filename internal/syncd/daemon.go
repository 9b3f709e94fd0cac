// Package syncd is the sync daemon: the loopback control plane, its records
// under the runtime root, and its retirement tick (SPEC §4, §9).
package syncd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/queue"
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
	Token   string
	Version string
	Logger  *slog.Logger
	// Ready, when set, is told once whether the listener is bound, so the
	// spawner learns of a lost port race at once instead of by timeout.
	Ready func(error)
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
	return d
}

// Run binds the port, writes the daemon's records and serves until ctx ends,
// an authenticated shutdown arrives or the daemon retires.
func (d *Daemon) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback.Addr, strconv.Itoa(d.cfg.Port)))
	if d.cfg.Ready != nil {
		d.cfg.Ready(err)
	}
	if err != nil {
		return fmt.Errorf("binding port %d: %w", d.cfg.Port, err)
	}
	stopWork, err := d.startWork(ctx)
	if err != nil {
		ln.Close()
		return fmt.Errorf("opening the queue: %w", err)
	}
	defer stopWork()
	if err := d.writeRecords(); err != nil {
		ln.Close()
		return err
	}
	defer d.removeInstanceRecord()
	tickCtx, stopTick := context.WithCancel(ctx)
	defer stopTick()
	tick, idle := Timing()
	go d.retireLoop(tickCtx, tick, idle)

	srv := &http.Server{
		Handler:           loopback.Guard(d.routes(), false),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	d.log.Info("sync daemon started", "version", d.cfg.Version, "scope", d.cfg.Layout.ScopeID())

	reason := ""
	select {
	case <-ctx.Done():
		reason = "signal"
	case reason = <-d.stop:
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	}
	d.log.Info("sync daemon stopping", "reason", reason)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
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
