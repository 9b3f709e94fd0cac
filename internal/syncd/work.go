package syncd

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/uploader"
)

// SYNC_DAEMON_IDLE_RETIREMENT_SECONDS is how long a daemon with no
// authenticated request and no work waits before it retires (SPEC §9). The
// name is the contract's; SPEC_KITTY_IDLE_RETIREMENT_SECONDS overrides it.
const SYNC_DAEMON_IDLE_RETIREMENT_SECONDS = 900

// DefaultTick is how often a daemon checks whether to retire: rare enough
// to cost nothing while idle, frequent enough that a superseded daemon
// leaves within a minute.
const DefaultTick = 30 * time.Second

// Environment overrides of the retirement timing, for tests (SPEC §13).
const (
	EnvTickSeconds = "SPEC_KITTY_DAEMON_TICK_SECONDS"
	EnvIdleSeconds = "SPEC_KITTY_IDLE_RETIREMENT_SECONDS"
)

// maxPublishBody bounds POST /api/sync/publish: the largest envelope the
// server takes plus room for the token and the request's own keys.
const maxPublishBody = events.MaxEnvelopeBytes + 16<<10

// Timing returns the tick and idle window from the environment, falling
// back to the defaults on missing or invalid values.
func Timing() (tick, idle time.Duration) {
	return envSeconds(EnvTickSeconds, DefaultTick),
		envSeconds(EnvIdleSeconds, SYNC_DAEMON_IDLE_RETIREMENT_SECONDS*time.Second)
}

func envSeconds(name string, def time.Duration) time.Duration {
	f, err := strconv.ParseFloat(os.Getenv(name), 64)
	if err != nil || f <= 0 {
		return def
	}
	return time.Duration(f * float64(time.Second))
}

// loadSession reads the session (shared with the Python CLI, encrypted)
// for each upload round and health answer; it is decrypted again only when
// the file changed. An unreadable one is treated as no session (events stay
// queued).
func (d *Daemon) loadSession() *session.Session {
	s, err := session.LoadCached(d.cfg.Layout.SessionFile())
	if err != nil {
		return nil
	}
	return s
}

func (d *Daemon) handlePublish(w http.ResponseWriter, r *http.Request) {
	var req api.PublishRequest
	if !loopback.DecodeJSON(w, r, maxPublishBody, &req) || !d.control.Authorize(w, req.Token) {
		return
	}
	if len(req.Event) == 0 || string(req.Event) == "null" {
		loopback.WriteError(w, http.StatusBadRequest, "missing event")
		return
	}
	// Checked here as well as by the CLI: the daemon is the last door
	// before the queue, whoever the client is.
	if err := events.Validate(req.Event); err != nil {
		loopback.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	}
	var env events.Envelope
	if err := json.Unmarshal(req.Event, &env); err != nil {
		loopback.WriteError(w, http.StatusBadRequest, "%v: %v", events.ErrInvalid, err)
		return
	}
	p, err := d.queue.Publish(r.Context(), env)
	switch {
	case errors.Is(err, events.ErrInvalid):
		loopback.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	case errors.Is(err, queue.ErrFull):
		loopback.WriteError(w, http.StatusInsufficientStorage, "%v", err)
		return
	case err != nil:
		d.log.Error("publishing event", "err", err)
		loopback.WriteError(w, http.StatusInternalServerError, "event not queued: %v", err)
		return
	}
	if !p.Existed && !p.Delivered {
		d.up.Notify()
	}
	loopback.WriteJSON(w, http.StatusOK, api.PublishResponse{
		EventID:          p.EventID,
		Existed:          p.Existed,
		AlreadyDelivered: p.Delivered,
		LamportClock:     p.LamportClock,
		QueueDepth:       d.queue.CachedDepth(),
	})
}

func (d *Daemon) handleTrigger(w http.ResponseWriter, r *http.Request) {
	var req api.ShutdownRequest
	if !loopback.DecodeJSON(w, r, loopback.MaxControlBody, &req) || !d.control.Authorize(w, req.Token) {
		return
	}
	d.up.Trigger()
	loopback.WriteJSON(w, http.StatusOK, map[string]string{"status": "triggered"})
}

// retireLoop checks every tick whether the daemon should retire (SPEC §9).
func (d *Daemon) retireLoop(ctx context.Context, tick, idle time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if reason := d.retirement(idle); reason != "" {
				d.requestStop(reason)
				return
			}
			d.trim.Touch() // an upload round since the last trim may have left garbage
		}
	}
}

// retirement returns why the daemon should retire now, or "".
func (d *Daemon) retirement(idle time.Duration) string {
	if d.superseded() && !d.up.Busy() {
		return "superseded"
	}
	d.mu.Lock()
	quiet := time.Since(d.lastAuthReq)
	d.mu.Unlock()
	if quiet >= idle && !d.up.Busy() {
		return "idle"
	}
	return ""
}

// supersededProbe bounds the health request to the daemon the state file
// names; a live one answers loopback in milliseconds.
const supersededProbe = 2 * time.Second

// superseded reports whether the state file names another live daemon of
// this scope: a different port whose listener answers health as this
// scope's sync daemon with the recorded pid (SPEC §9). A record naming this
// port, a dead pid, an unrelated process or nothing readable never retires
// this daemon.
func (d *Daemon) superseded() bool {
	rec, err := statefile.Read(d.cfg.Layout.StateFile())
	if err != nil || rec.Port == d.cfg.Port || rec.PID == os.Getpid() || !procinfo.Alive(rec.PID) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), supersededProbe)
	defer cancel()
	h, err := client.New(rec.Port).Health(ctx)
	return err == nil && h.DaemonFamily == api.FamilySync && h.SingletonScopeID == d.cfg.Layout.ScopeID() &&
		h.Owner != nil && h.Owner.PID == rec.PID && h.Owner.Port == rec.Port
}

// startWork opens the queue and starts the uploader, which sends only
// while this daemon holds the scope's upload lock.
func (d *Daemon) startWork(ctx context.Context) (stop func(), err error) {
	q, err := queue.Open(d.cfg.Layout.QueueDB())
	if err != nil {
		return nil, err
	}
	d.queue = q
	lock := newUploadLock(d.cfg.Layout.UploadLockFile(), d.log)
	d.up = uploader.New(uploader.Config{Queue: q, Provider: session.NewProvider(d.cfg.Layout), Logger: d.log, MayUpload: lock.Hold})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.up.Run(ctx); close(done) }()
	return func() {
		cancel()
		<-done // the queue is closed only after the uploader has returned
		lock.Release()
		_ = q.Close()
	}, nil
}
