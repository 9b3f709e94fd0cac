package syncd

import (
	"net/http"
	"os"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
)

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", d.handleHealth)
	mux.HandleFunc("POST /api/shutdown", d.control.HandleShutdown)
	mux.HandleFunc("POST /api/auth/challenge", d.control.HandleChallenge)
	mux.HandleFunc("POST /api/sync/publish", d.handlePublish)
	mux.HandleFunc("POST /api/sync/trigger", d.handleTrigger)
	return mux
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
	if s := d.loadSession(); s != nil {
		scope := s.AuthScope()
		h.Owner.ServerURL, h.Owner.AuthPrincipal, h.Owner.AuthTeam, h.Owner.AuthScope = &s.ServerURL, &s.Email, &s.Team, &scope
	}
	return h
}

func (d *Daemon) handleHealth(w http.ResponseWriter, r *http.Request) {
	loopback.WriteJSON(w, http.StatusOK, d.Health())
}
