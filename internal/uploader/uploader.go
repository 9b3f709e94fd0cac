// Package uploader sends queued events to the session's server in batches
// (SPEC §10). An event leaves the queue only after the server answered 2xx
// for the batch that carried it, so delivery is at least once: a kill
// between acceptance and deletion resends the batch, and the server
// deduplicates by event id.
package uploader

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// Defaults for the zero values of Config.
const (
	// DefaultBatchSize keeps one request small (at most a few hundred KiB
	// for typical events) while draining a backlog in few round trips.
	DefaultBatchSize = 100
	// DefaultMinBackoff is the first retry delay after a failed batch.
	DefaultMinBackoff = time.Second
	// DefaultMaxBackoff caps the retry delay: a server that was down for an
	// hour is retried within minutes of coming back, and a dead one costs
	// one request every few minutes.
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultInterval is how often an idle uploader looks again without
	// being woken: it picks up a session created by `auth login` and events
	// written by other processes. Long enough that an idle daemon does
	// almost nothing.
	DefaultInterval = 30 * time.Second
)

// busyCheckTimeout bounds the queue count behind Busy. The retirement tick
// can afford to wait that long; a database locked for longer counts as busy
// so that a daemon never retires on a guess.
const busyCheckTimeout = 2 * time.Second

// Config is what an Uploader works with.
type Config struct {
	// Queue holds the events to send.
	Queue *queue.Queue
	// Session returns the current session; it is called each round so that
	// a login or logout takes effect without a restart. A nil func or a nil
	// session keeps events queued locally.
	Session func() *session.Session
	// Client sends the batches; nil means a fresh http.Client. Each request
	// is bounded by requestTimeout whatever the client's own timeout.
	Client *http.Client
	// BatchSize is the most events per request.
	BatchSize int
	// MinBackoff and MaxBackoff bound the retry delay after failures.
	MinBackoff, MaxBackoff time.Duration
	// Interval is the idle re-check period.
	Interval time.Duration
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
}

// Uploader drains a queue to a server. Its methods are safe for concurrent
// use; Run must be called once.
type Uploader struct {
	cfg Config
	log *slog.Logger

	notify chan struct{} // new work; honours backoff
	force  chan struct{} // an explicit request to sync now

	inflight atomic.Bool
	failures atomic.Int64
	lastSync atomic.Pointer[time.Time]

	// roundHook, when set (by tests), is called after every round of Run.
	roundHook func()
}

// New returns an uploader for cfg, filling defaults for zero fields.
func New(cfg Config) *Uploader {
	if cfg.Client == nil {
		cfg.Client = NewHTTPClient()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Uploader{
		cfg:    cfg,
		log:    log,
		notify: make(chan struct{}, 1),
		force:  make(chan struct{}, 1),
	}
}

// Trigger asks for an upload now (POST /api/sync/trigger). It never blocks,
// and triggers that arrive before the uploader wakes count once. While
// backing off after a failure, the retry is brought forward but never to
// less than MinBackoff after the previous attempt, so a stream of triggers
// cannot hammer a failing server.
func (u *Uploader) Trigger() { wake(u.force) }

// Notify reports that events were queued. It never blocks and wakes an idle
// uploader at once, but leaves a running backoff alone: publishing into an
// outage does not shorten the retry delay.
func (u *Uploader) Notify() { wake(u.notify) }

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Status reports the uploader's state for the health payload. It reads only
// in-memory values, so it answers at once even while an upload is running.
func (u *Uploader) Status() api.SyncStatus {
	st := api.SyncStatus{
		Running:             u.inflight.Load(),
		ConsecutiveFailures: int(u.failures.Load()),
		QueueDepth:          u.cfg.Queue.CachedDepth(),
	}
	if t := u.lastSync.Load(); t != nil {
		last := *t
		st.LastSync = &last
	}
	return st
}

// Busy reports whether the uploader has work: an upload in flight, or
// events queued while a session is configured. A daemon never retires while
// Busy. A queue that cannot be counted counts as busy.
func (u *Uploader) Busy() bool {
	if u.inflight.Load() {
		return true
	}
	if u.session() == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), busyCheckTimeout)
	defer cancel()
	n, err := u.cfg.Queue.Depth(ctx)
	if err != nil {
		u.log.Warn("counting queued events", "err", err)
		return true
	}
	return n > 0
}

// Run uploads until ctx ends. It starts with a round at once, since a
// killed predecessor may have left events, then sleeps until Trigger,
// Notify, the idle interval or the end of a backoff; it never polls.
// Events that are queued when ctx ends stay queued. Close the queue only
// after Run has returned.
func (u *Uploader) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		backingOff  bool
		next        time.Time // when timer fires
		lastAttempt time.Time
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-u.notify:
			if backingOff {
				continue
			}
		case <-u.force:
			if backingOff {
				earliest := lastAttempt.Add(u.cfg.MinBackoff)
				if wait := time.Until(earliest); wait > 0 {
					if earliest.Before(next) {
						next = earliest
						timer.Reset(wait)
					}
					continue
				}
			}
		}
		lastAttempt = time.Now()
		var wait time.Duration
		wait, backingOff = u.drain(ctx)
		next = time.Now().Add(wait)
		timer.Reset(wait)
		if u.roundHook != nil {
			u.roundHook()
		}
	}
}

// drain sends batches until the queue is empty, there is no session, or a
// batch fails. It returns how long to sleep and whether that is a backoff.
func (u *Uploader) drain(ctx context.Context) (time.Duration, bool) {
	for {
		sent, err := u.round(ctx)
		if ctx.Err() != nil {
			// Shutting down: not the server's failure.
			return u.cfg.Interval, false
		}
		if err != nil {
			n := u.failures.Add(1)
			wait := Backoff(u.cfg.MinBackoff, u.cfg.MaxBackoff, int(n))
			u.log.Warn("uploading events failed", "err", err, "consecutive_failures", n, "retry_in", wait.String())
			return wait, true
		}
		if sent < u.cfg.BatchSize {
			break
		}
	}
	// Recount now and then so that events other processes queued or
	// deleted show in the cached depth.
	if _, err := u.cfg.Queue.Depth(ctx); err != nil {
		u.log.Warn("counting queued events", "err", err)
	}
	return u.cfg.Interval, false
}

func (u *Uploader) session() *session.Session {
	if u.cfg.Session == nil {
		return nil
	}
	return u.cfg.Session()
}

// Backoff returns the delay before retry number failures (1 for the first
// retry): min doubled per failure, capped at max, then jittered into
// [d/2, d] so that daemons behind one outage do not retry in lockstep.
func Backoff(minDelay, maxDelay time.Duration, failures int) time.Duration {
	d := minDelay
	for i := 1; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}
