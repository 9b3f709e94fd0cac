// Package uploader sends queued events to the session's server with the
// spec-kitty batch protocol (SPEC §10). An event leaves the queue only when
// the server said it has it (accepted or duplicate), so delivery is at
// least once: a kill between the answer and the delete resends the event,
// and the server deduplicates by event_id. Events the server will never
// take are parked: kept in the queue, out of the upload loop.
package uploader

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// Defaults for the zero values of Config.
const (
	// DefaultBatchSize is the contract's most events per request.
	DefaultBatchSize = MaxBatchEvents
	// DefaultMinBackoff is the first retry delay after a failed batch.
	DefaultMinBackoff = time.Second
	// DefaultMaxBackoff caps the retry delay: a server that was down for an
	// hour is retried within minutes of coming back, and a dead one costs
	// one request every few minutes.
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultInterval is how often an idle uploader looks again without
	// being woken: it picks up a login and events other processes queued,
	// and retries rejected and pending events. Long enough that an idle
	// daemon does almost nothing.
	DefaultInterval = 30 * time.Second
	// DefaultRequestTimeout bounds one batch request (the contract's 60 s).
	DefaultRequestTimeout = 60 * time.Second
	// DefaultMaxRejections parks an event the server rejected this many
	// times: a rejection that never clears must not be resent for ever.
	DefaultMaxRejections = 20
	// DefaultLogEvery is how often an unchanged failure is logged again.
	DefaultLogEvery = 10 * time.Minute
	// DefaultStandby is how often an uploader that may not upload (another
	// daemon of the scope holds the upload lock) asks again: the lock is
	// one non-blocking flock, so a killed holder is replaced within
	// seconds at the cost of a system call.
	DefaultStandby = 5 * time.Second
)

// busyCheckTimeout bounds the checks behind Busy. The retirement tick can
// afford to wait that long; a database locked for longer counts as busy so
// that a daemon never retires on a guess.
const busyCheckTimeout = 2 * time.Second

// Config is what an Uploader works with.
type Config struct {
	// Queue holds the events to send.
	Queue *queue.Queue
	// Provider hands out the credentials for every batch; nil, or an error
	// wrapping session.ErrNotLoggedIn, keeps events queued locally.
	Provider session.Provider
	// Client sends the batches; nil means a fresh http.Client.
	Client *http.Client
	// BatchSize is the most events per request (at most MaxBatchEvents).
	BatchSize int
	// MaxBatchBytes bounds a decompressed batch (at most MaxBatchBytes).
	MaxBatchBytes int
	// MinBackoff and MaxBackoff bound the retry delay after failures.
	MinBackoff, MaxBackoff time.Duration
	// Interval is the idle re-check period.
	Interval time.Duration
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration
	// MaxRejections parks an event rejected this many times.
	MaxRejections int
	// LogEvery is how often an unchanged failure is logged again.
	LogEvery time.Duration
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
	// MayUpload is asked before every pass and by Busy: only while it says
	// yes does the uploader send (the daemon answers whether it holds the
	// scope's upload lock, taking it when free). nil means always.
	MayUpload func() bool
	// Standby is how often an uploader that may not upload asks again.
	Standby time.Duration
}

// Uploader drains a queue to a server. Its methods are safe for concurrent
// use; Run must be called once.
type Uploader struct {
	cfg Config
	log *slog.Logger

	notify chan struct{} // new work; honours backoff
	force  chan struct{} // an explicit request to sync now

	inflight atomic.Bool
	leader   atomic.Int32 // MayUpload's last answer: 0 not asked, 1 yes, 2 no
	withheld atomic.Bool  // the login has no Private Teamspace (withhold.go)

	// hmu guards health, the upload health shown by the health payload.
	hmu    sync.Mutex
	health health

	// logMu guards the failure-log state.
	logMu      sync.Mutex
	loggedErr  string
	loggedAt   time.Time
	suppressed int

	// roundHook, when set (by tests), is called after every round of Run.
	roundHook func()
}

// health is the upload health of the current run of failures (SPEC §10
// *Upload health*): it is never hidden behind a daemon that answers.
type health struct {
	lastAttempt  time.Time // the last round that ended, success or failure
	lastSuccess  time.Time // the last batch the server answered
	failingSince time.Time // the first failure since the last success
	failures     int
	lastError    string
}

// New returns an uploader for cfg, filling defaults for zero fields.
func New(cfg Config) *Uploader {
	if cfg.Client == nil {
		cfg.Client = NewHTTPClient()
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > MaxBatchEvents {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MaxBatchBytes <= 0 || cfg.MaxBatchBytes > MaxBatchBytes {
		cfg.MaxBatchBytes = MaxBatchBytes
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
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxRejections <= 0 {
		cfg.MaxRejections = DefaultMaxRejections
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = DefaultLogEvery
	}
	if cfg.Standby <= 0 {
		cfg.Standby = min(DefaultStandby, cfg.Interval)
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
	inflight := u.inflight.Load()
	u.hmu.Lock()
	h := u.health
	u.hmu.Unlock()
	return api.SyncStatus{Running: inflight, Uploader: u.leader.Load() == 1, UploadStatus: api.UploadStatus{
		Uploading:           inflight,
		LastSync:            timeOrNil(h.lastAttempt),
		LastSuccessAt:       timeOrNil(h.lastSuccess),
		FailingSince:        timeOrNil(h.failingSince),
		ConsecutiveFailures: h.failures,
		QueueDepth:          u.cfg.Queue.CachedDepth(),
		Parked:              u.cfg.Queue.CachedParked(),
		LastError:           stringOrNil(h.lastError),
	}}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func stringOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Busy reports whether the uploader has work: an upload in flight, or
// events in the upload loop while logged in. Parked events are not work. A
// daemon never retires while Busy; a queue that cannot be counted counts as
// busy, and so does a login that could not be refreshed just now (only no
// login at all means the events wait for someone to log in). The queue is
// counted first, so an idle daemon never refreshes a token it has no use for.
func (u *Uploader) Busy() bool {
	if u.inflight.Load() {
		return true
	}
	if !u.mayUpload() {
		return false // the queue is the upload lock holder's work
	}
	ctx, cancel := context.WithTimeout(context.Background(), busyCheckTimeout)
	defer cancel()
	n, err := u.cfg.Queue.Ready(ctx)
	if err != nil {
		u.log.Warn("counting queued events", "err", err)
		return true
	}
	if n == 0 {
		return false
	}
	creds, err := u.credentials(ctx)
	if err == nil && creds.Team == "" {
		return false // withheld until the login has a Private Teamspace
	}
	return !errors.Is(err, session.ErrNotLoggedIn)
}

// mayUpload asks cfg.MayUpload and remembers the answer for Status.
func (u *Uploader) mayUpload() bool {
	ok := u.cfg.MayUpload == nil || u.cfg.MayUpload()
	state := int32(2)
	if ok {
		state = 1
	}
	if u.leader.Swap(state) != state && u.cfg.MayUpload != nil {
		if ok {
			u.log.Info("this daemon uploads the scope's queue: it holds the upload lock")
		} else {
			u.log.Info("another daemon of the scope uploads: this one queues and answers only")
		}
	}
	return ok
}

// Run uploads until ctx ends. It starts with a round at once, since a
// killed predecessor may have left events, then sleeps until Trigger,
// Notify, the idle interval or the end of a backoff; it never polls the queue.
// Events that are queued when ctx ends stay queued. Close the queue only
// after Run has returned. While MayUpload says no, it sends nothing and
// asks again every Standby, so that it takes over when the holder exits.
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
		if !u.mayUpload() {
			// Another daemon of the scope uploads; look again soon, so
			// that this one takes over when that one exits.
			backingOff = false
			next = time.Now().Add(u.cfg.Standby)
			timer.Reset(u.cfg.Standby)
			continue
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

// drain sends batches while they move the queue. It returns how long to
// sleep and whether that is a backoff.
func (u *Uploader) drain(ctx context.Context) (time.Duration, bool) {
	defer u.recount(ctx)
	for {
		t, err := u.round(ctx)
		if ctx.Err() != nil {
			return u.cfg.Interval, false // shutting down: not the server's failure
		}
		if err != nil {
			return u.failed(err), true
		}
		if !t.progressed() {
			return u.cfg.Interval, false
		}
	}
}

// round sends one batch: events of one project, oldest first, within the
// contract's limits. The queue is read first, so a round with nothing to
// send never refreshes the login.
func (u *Uploader) round(ctx context.Context) (tally, error) {
	items, err := u.cfg.Queue.Peek(ctx, u.cfg.BatchSize)
	if err != nil {
		return tally{}, err
	}
	if len(items) == 0 {
		return tally{}, nil
	}
	creds, err := u.credentials(ctx)
	if errors.Is(err, session.ErrNotLoggedIn) {
		return tally{}, nil // events stay queued locally
	}
	if err != nil {
		return tally{}, &failure{msg: "reading the session: " + err.Error()}
	}
	if u.withhold(creds) {
		return tally{}, nil // kept queued until the login has a Private Teamspace
	}
	batch, oversized := u.select_(items, creds.Team)
	u.inflight.Store(true)
	defer u.inflight.Store(false)
	var t tally
	if len(oversized) > 0 {
		pt, err := u.park(ctx, oversized, "oversized event: larger than the server's batch limit")
		t.add(pt)
		if err != nil {
			return t, err
		}
	}
	dt, err := u.deliver(ctx, &attempt{creds: creds}, batch)
	t.add(dt)
	if err != nil {
		return t, err
	}
	if len(batch) > 0 {
		u.succeeded()
	}
	return t, nil
}

// select_ picks the batch: the oldest event's project only, up to the byte
// limit, counting the team slug the upload may add to each event. An event
// that alone exceeds the limit is returned to be parked.
func (u *Uploader) select_(items []queue.Item, team string) (batch, oversized []queue.Item) {
	project := ""
	size := 0
	for _, it := range items {
		n := len(it.Envelope) + len(team) + len(`""`)
		if batchBytes(1, n) > u.cfg.MaxBatchBytes {
			oversized = append(oversized, it)
			continue
		}
		if project == "" {
			project = it.ProjectUUID
		}
		if it.ProjectUUID != project {
			continue
		}
		if batchBytes(len(batch)+1, size+n) > u.cfg.MaxBatchBytes {
			break
		}
		batch = append(batch, it)
		size += n
	}
	return batch, oversized
}

func (u *Uploader) credentials(ctx context.Context) (session.Credentials, error) {
	if u.cfg.Provider == nil {
		return session.Credentials{}, session.ErrNotLoggedIn
	}
	return u.cfg.Provider.Credentials(ctx)
}

// failed records a failed round and returns the wait before the next: the
// server's Retry-After when it sent one, else the backoff.
func (u *Uploader) failed(err error) time.Duration {
	msg, detail := oneLine(err.Error()), ""
	var f *failure
	if errors.As(err, &f) {
		detail = f.detail
	}
	now := time.Now().UTC()
	u.hmu.Lock()
	u.health.failures++
	n := u.health.failures
	if u.health.failingSince.IsZero() {
		u.health.failingSince = now
	}
	u.health.lastAttempt, u.health.lastError = now, msg
	u.hmu.Unlock()
	wait := Backoff(u.cfg.MinBackoff, u.cfg.MaxBackoff, n)
	if f != nil && f.retryAfter != nil {
		wait = *f.retryAfter
	}
	u.logFailure(msg, detail, int64(n), wait)
	return wait
}

// oneLine keeps an error to the one line that status, doctor and page
// show: control characters (a server's newlines) become spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// succeeded records a batch the server answered.
func (u *Uploader) succeeded() {
	now := time.Now().UTC()
	u.hmu.Lock()
	u.health = health{lastAttempt: now, lastSuccess: now}
	u.hmu.Unlock()
	u.logMu.Lock()
	defer u.logMu.Unlock()
	if u.loggedErr != "" {
		u.log.Info("uploads recovered", "after_error", u.loggedErr, "failures_not_logged", u.suppressed)
		u.loggedErr, u.suppressed = "", 0
	}
}

// logFailure logs a failure when the state changes (the first failure, a
// different error) and otherwise at most every LogEvery, so an outage of a
// day costs a few hundred lines, not one per retry.
func (u *Uploader) logFailure(msg, detail string, failures int64, wait time.Duration) {
	u.logMu.Lock()
	defer u.logMu.Unlock()
	now := time.Now()
	if msg == u.loggedErr && now.Sub(u.loggedAt) < u.cfg.LogEvery {
		u.suppressed++
		return
	}
	args := []any{"err", msg, "consecutive_failures", failures,
		"retry_in", wait.String(), "failures_not_logged", u.suppressed}
	if detail != "" && detail != msg {
		args = append(args, "detail", detail)
	}
	u.log.Warn("uploading events failed", args...)
	u.loggedErr, u.loggedAt, u.suppressed = msg, now, 0
}

// recount refreshes the cached counts so that events other processes
// queued or deleted, and parks by rejection, show in the health answer.
func (u *Uploader) recount(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if _, err := u.cfg.Queue.Counts(ctx); err != nil {
		u.log.Warn("counting queued events", "err", err)
	}
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
