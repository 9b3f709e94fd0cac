package syncd

import (
	"net/http"
	"os"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// trimQuiet is how long the daemon waits after its start-up, after the last
// request of a burst and after each retirement tick, before it gives memory
// back (when the burst allocated enough to be worth a collection, memtrim):
// long enough that a scan or a CLI session is over, short enough that
// the daemon is small again well within 10 s of a load (SPEC §14). One
// timer, armed by that activity: an idle daemon does not wake for it.
const trimQuiet = 2 * time.Second

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", d.handleHealth)
	mux.HandleFunc("POST /api/shutdown", d.control.HandleShutdown)
	mux.HandleFunc("POST /api/auth/challenge", d.control.HandleChallenge)
	mux.HandleFunc("POST /api/sync/publish", d.handlePublish)
	mux.HandleFunc("POST /api/sync/trigger", d.handleTrigger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.trim.Touch()
		mux.ServeHTTP(w, r)
	})
}

// Health returns the health payload. It never contains the token.
func (d *Daemon) Health() api.Health {
	st := d.up.Status()
	h := api.Health{
		Status:           "ok",
		DaemonFamily:     api.FamilySync,
		SingletonScopeID: d.cfg.Layout.ScopeID(),
		ScopeMarker:      d.cfg.Marker,
		ProtocolVersion:  api.ProtocolVersion,
		PackageVersion:   d.cfg.Version,
		Sync:             &st,
		Owner: &api.Owner{
			PID:            os.Getpid(),
			Port:           d.cfg.Port,
			PackageVersion: d.cfg.Version,
			ExecutablePath: d.exe,
			QueueDBPath:    d.cfg.Layout.QueueDB(),
			StartedAt:      d.startedAt,
		},
	}
	if d.cfg.LogRotationError != nil {
		if e := d.cfg.LogRotationError(); e != "" {
			h.LogRotationError = &e
		}
	}
	if s := d.loadSession(); s != nil {
		scope := s.AuthScope()
		h.Owner.ServerURL, h.Owner.AuthPrincipal, h.Owner.AuthTeam, h.Owner.AuthScope = &s.ServerURL, &s.Email, &s.Team, &scope
		h.Session = session.CachedSummary(d.cfg.Layout.SessionFile())
	}
	return h
}

func (d *Daemon) handleHealth(w http.ResponseWriter, r *http.Request) {
	loopback.WriteJSON(w, http.StatusOK, d.Health())
}
