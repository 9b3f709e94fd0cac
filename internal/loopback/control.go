package loopback

import (
	"crypto/subtle"
	"net/http"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
)

// maxNonce bounds a challenge nonce; the client sends 32 hex characters.
const maxNonce = 256

// Control serves what every daemon's control plane shares: the token
// check, the authenticated shutdown and the token-possession challenge.
type Control struct {
	Token string
	// Stop ends the daemon gracefully; it is called once per accepted
	// shutdown request.
	Stop func(reason string)
	// OnAuth, when set, is called on every authenticated request and every
	// token-proof challenge (the sync daemon's idle clock).
	OnAuth func()
}

// Authorize checks a request's token in constant time and writes the 403.
func (c *Control) Authorize(w http.ResponseWriter, token string) bool {
	if c.Token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(c.Token)) != 1 {
		WriteError(w, http.StatusForbidden, "invalid token")
		return false
	}
	if c.OnAuth != nil {
		c.OnAuth()
	}
	return true
}

// HandleShutdown answers POST /api/shutdown: 200 {"status":"stopping"} and
// a graceful exit for the right token, 403 otherwise.
func (c *Control) HandleShutdown(w http.ResponseWriter, r *http.Request) {
	var req api.ShutdownRequest
	if !DecodeJSON(w, r, MaxControlBody, &req) || !c.Authorize(w, req.Token) {
		return
	}
	WriteJSON(w, http.StatusOK, api.ShutdownResponse{Status: "stopping"})
	c.Stop("shutdown request")
}

// HandleChallenge answers POST /api/auth/challenge with
// HMAC-SHA256(token, nonce): proof of the token that never reveals it.
func (c *Control) HandleChallenge(w http.ResponseWriter, r *http.Request) {
	var req api.ChallengeRequest
	if !DecodeJSON(w, r, MaxControlBody, &req) {
		return
	}
	if req.Nonce == "" || len(req.Nonce) > maxNonce {
		WriteError(w, http.StatusBadRequest, "nonce must be 1-%d characters", maxNonce)
		return
	}
	// Ensure-running proves the token just before it publishes: the proof
	// counts as activity, or the daemon could retire in between.
	if c.OnAuth != nil {
		c.OnAuth()
	}
	WriteJSON(w, http.StatusOK, api.ChallengeResponse{MAC: client.MAC(c.Token, req.Nonce)})
}
