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

// maxPublishBody bounds POST /api/sync/publish: the queue's own event limit
// plus room for the token and the envelope.
const maxPublishBody = queue.MaxDataBytes + 16<<10

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

// loadSession reads the session for each upload round and health answer;
// an unreadable one is treated as no session (events stay queued).
func (d *Daemon) loadSession() *session.Session {
	s, err := session.Load(d.cfg.Layout.SessionFile())
	if err != nil {
		return nil
	}
	return s
}

// publishRequest is the body of POST /api/sync/publish.
type publishRequest struct {
	Token string `json:"token"`
	Event *struct {
		ID   string          `json:"id"`
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	} `json:"event"`
}

func (d *Daemon) handlePublish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if !loopback.DecodeJSON(w, r, maxPublishBody, &req) || !d.control.Authorize(w, req.Token) {
		return
	}
	if req.Event == nil {
		loopback.WriteError(w, http.StatusBadRequest, "missing event")
		return
	}
	ev, err := d.queue.PublishEvent(r.Context(), queue.Event{ID: req.Event.ID, Type: req.Event.Type, Data: req.Event.Data})
	switch {
	case errors.Is(err, queue.ErrInvalidEvent):
		loopback.WriteError(w, http.StatusBadRequest, "%v", err)
		return
	case err != nil:
		d.log.Error("publishing event", "err", err)
		loopback.WriteError(w, http.StatusInternalServerError, "event not queued: %v", err)
		return
	}
	d.up.Notify()
	loopback.WriteJSON(w, http.StatusOK, map[string]any{"id": ev.ID, "queue_depth": d.queue.CachedDepth()})
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
			d.trim.Touch() // the tick paged code in; give it back once quiet
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

// superseded reports whether the state file names another live daemon.
func (d *Daemon) superseded() bool {
	rec, err := statefile.Read(d.cfg.Layout.StateFile())
	if err != nil {
		return false
	}
	return rec.PID != os.Getpid() && procinfo.Alive(rec.PID)
}

// startWork opens the queue and starts the uploader.
func (d *Daemon) startWork(ctx context.Context) (stop func(), err error) {
	q, err := queue.Open(d.cfg.Layout.QueueDB())
	if err != nil {
		return nil, err
	}
	d.queue = q
	d.up = uploader.New(uploader.Config{Queue: q, Session: d.loadSession, Logger: d.log})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.up.Run(ctx); close(done) }()
	return func() {
		cancel()
		<-done // the queue is closed only after the uploader has returned
		_ = q.Close()
	}, nil
}
