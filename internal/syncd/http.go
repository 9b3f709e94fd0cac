package syncd

import (
	"crypto/subtle"
	"net/http"
	"os"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/loopback"
)

func (d *Daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", d.handleHealth)
	mux.HandleFunc("POST /api/shutdown", d.handleShutdown)
	mux.HandleFunc("POST /api/auth/challenge", d.handleChallenge)
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

func (d *Daemon) handleShutdown(w http.ResponseWriter, r *http.Request) {
	var req api.ShutdownRequest
	if !loopback.DecodeJSON(w, r, loopback.MaxControlBody, &req) || !d.authorize(w, req.Token) {
		return
	}
	loopback.WriteJSON(w, http.StatusOK, api.ShutdownResponse{Status: "stopping"})
	d.requestStop("shutdown request")
}

// handleChallenge proves the daemon holds the token without revealing it.
func (d *Daemon) handleChallenge(w http.ResponseWriter, r *http.Request) {
	var req api.ChallengeRequest
	if !loopback.DecodeJSON(w, r, loopback.MaxControlBody, &req) {
		return
	}
	if req.Nonce == "" || len(req.Nonce) > 256 {
		loopback.WriteError(w, http.StatusBadRequest, "nonce must be 1-256 characters")
		return
	}
	loopback.WriteJSON(w, http.StatusOK, api.ChallengeResponse{MAC: client.MAC(d.cfg.Token, req.Nonce)})
}

// authorize checks a request's token in constant time and writes the 403.
func (d *Daemon) authorize(w http.ResponseWriter, token string) bool {
	if subtle.ConstantTimeCompare([]byte(token), []byte(d.cfg.Token)) != 1 {
		loopback.WriteError(w, http.StatusForbidden, "invalid token")
		return false
	}
	d.touch()
	return true
}
