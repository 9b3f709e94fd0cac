package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Upstream's OAuth client facts (specify_cli/auth/flows/*.py).
const (
	clientID     = "cli_native"
	defaultScope = "offline_access"
	// defaultExpiresIn is what upstream's refresh assumes when the token
	// response carries no expires_in.
	defaultExpiresIn = time.Hour
	// httpTimeout is upstream's _HTTP_TIMEOUT_SECONDS for every OAuth call.
	httpTimeout = 10 * time.Second
	// refreshBuffer is upstream's _REFRESH_BUFFER_SECONDS: a token expiring
	// within it is refreshed before use, and persisted material is adopted
	// only when it outlives it.
	refreshBuffer = 5 * time.Second
	// maxOAuthBody bounds a token endpoint's answer.
	maxOAuthBody = 1 << 20
)

var (
	// errRefreshRejected is the server's invalid_grant or session_invalid.
	errRefreshRejected = errors.New("the server rejected the refresh token")
	// errRefreshReplay is upstream's 409 refresh_replay_benign_retry.
	errRefreshReplay = errors.New("refresh token replay")
	// ErrRefreshRetry reports a refresh that could not finish now (lock
	// contention, a network failure, a replay); the session is kept and a
	// later attempt may succeed.
	ErrRefreshRetry = errors.New("the session could not be refreshed now")
)

// refreshTokens POSTs the refresh grant and returns the updated session.
func refreshTokens(ctx context.Context, client *http.Client, server string, st *Stored, now time.Time) (*Stored, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {st.RefreshToken},
		"client_id":     {clientID},
	}
	status, body, err := postForm(ctx, client, server+"/oauth/token", form)
	if err != nil {
		return nil, fmt.Errorf("%w: refreshing the session: %w", ErrRefreshRetry, err)
	}
	var tokens map[string]any
	_ = json.Unmarshal(body, &tokens)
	switch {
	case status == http.StatusOK:
		if tokens == nil {
			return nil, fmt.Errorf("%w: refresh response was not JSON", ErrRefreshRetry)
		}
		return updatedSession(st, tokens, now)
	case status == http.StatusConflict && str(tokens, "error") == "refresh_replay_benign_retry":
		return nil, errRefreshReplay
	case (status == http.StatusBadRequest || status == http.StatusUnauthorized) &&
		(str(tokens, "error") == "invalid_grant" || str(tokens, "error") == "session_invalid"):
		return nil, fmt.Errorf("%w (%s)", errRefreshRejected, str(tokens, "error"))
	}
	return nil, fmt.Errorf("%w: token refresh failed: HTTP %d", ErrRefreshRetry, status)
}

// updatedSession is upstream's TokenRefreshFlow._update_session: rotated
// tokens, a new expiry, everything else (unknown fields too) kept.
func updatedSession(st *Stored, tokens map[string]any, now time.Time) (*Stored, error) {
	access := str(tokens, "access_token")
	if access == "" {
		return nil, fmt.Errorf("%w: refresh response lacks access_token", ErrRefreshRetry)
	}
	n := *st
	n.AccessToken = access
	if r := str(tokens, "refresh_token"); r != "" {
		n.RefreshToken = r
	}
	expiresIn := defaultExpiresIn
	if v, ok := tokens["expires_in"]; ok {
		secs, ok := number(v)
		if !ok {
			return nil, fmt.Errorf("%w: refresh response has an invalid expires_in", ErrRefreshRetry)
		}
		expiresIn = time.Duration(secs) * time.Second
	}
	now = now.UTC()
	n.IssuedAt, n.LastUsedAt, n.AccessExpires = now, now, now.Add(expiresIn)
	n.RefreshExpires = refreshExpiry(tokens, nil, now, st.RefreshExpires)
	if s := str(tokens, "scope"); s != "" {
		n.Scope = s
	}
	n.Generation = nil
	if g, ok := number(tokens["generation"]); ok {
		gi := int64(g)
		n.Generation = &gi
	}
	return &n, nil
}

// refreshExpiry prefers an absolute refresh_token_expires_at (from the
// token response, then /me), then the relative refresh_token_expires_in,
// then prev — the server's word, never a guessed TTL.
func refreshExpiry(tokens, me map[string]any, now, prev time.Time) time.Time {
	for _, m := range []map[string]any{tokens, me} {
		if s := str(m, "refresh_token_expires_at"); s != "" {
			if t, err := parseISO(s); err == nil {
				return t
			}
		}
	}
	if secs, ok := number(tokens["refresh_token_expires_in"]); ok {
		return now.Add(time.Duration(secs) * time.Second)
	}
	return prev
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// postForm POSTs a form with upstream's timeout and returns the status and
// a bounded body.
func postForm(ctx context.Context, client *http.Client, target string, form url.Values) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOAuthBody))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// refresher runs upstream's refresh transaction (refresh_transaction.py)
// over one store.
type refresher struct {
	store  *Store
	root   string
	client *http.Client
	now    func() time.Time
}

// refresh takes refresh.lock, re-reads the session (another process —
// the Python CLI included — may have refreshed meanwhile) and, only when
// stale(persisted) still holds, refreshes it and writes it back.
func (r *refresher) refresh(ctx context.Context, stale func(*Stored) bool) (*Stored, error) {
	var out *Stored
	err := withMachineLock(ctx, r.store.RefreshLockPath(), refreshLockTimeout, func() error {
		var err error
		out, err = r.locked(ctx, stale)
		return err
	})
	if errors.Is(err, ErrLockTimeout) {
		// Another process is mid-refresh: use what it left if usable.
		if p, rerr := r.store.Read(); rerr == nil && p != nil && !p.AccessExpired(r.now(), refreshBuffer) {
			return p, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrRefreshRetry, err)
	}
	return out, err
}

func (r *refresher) locked(ctx context.Context, stale func(*Stored) bool) (*Stored, error) {
	persisted, err := r.store.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLoggedIn, err)
	}
	if persisted == nil {
		return nil, ErrNotLoggedIn
	}
	if !stale(persisted) {
		return persisted, nil
	}
	if persisted.RefreshToken == "" {
		return nil, fmt.Errorf("%w: the access token has expired and the session has no refresh token; run spec-kitty auth login", ErrNotLoggedIn)
	}
	if persisted.RefreshExpired(r.now()) {
		return nil, fmt.Errorf("%w: the refresh token has expired; run spec-kitty auth login", ErrNotLoggedIn)
	}
	server := ResolveServerURL(r.root, persisted)
	if server == "" {
		return nil, fmt.Errorf("%w: %w", ErrNotLoggedIn, errNoServer)
	}
	base := persisted // the stored session the new tokens replace
	updated, err := refreshTokens(ctx, r.client, server, persisted, r.now())
	switch {
	case err == nil:
	case errors.Is(err, errRefreshRejected):
		return r.reconcileRejection(persisted, err)
	case errors.Is(err, errRefreshReplay):
		again, rerr := r.store.Read()
		if rerr != nil || again == nil || again.RefreshToken == persisted.RefreshToken {
			return nil, fmt.Errorf("%w: refresh token replay and no newer token yet", ErrRefreshRetry)
		}
		base = again
		if updated, err = refreshTokens(ctx, r.client, server, again, r.now()); err != nil {
			return nil, fmt.Errorf("%w: refresh token replay, and the retry failed: %w", ErrRefreshRetry, err)
		}
	default:
		return nil, err
	}
	r.rehydrateTeams(ctx, server, updated)
	// Written only over the session it refreshed: a logout or a new login
	// during the token request wins.
	stored, err := r.store.swap(base, updated)
	if err != nil {
		return nil, fmt.Errorf("saving the refreshed session: %w", err)
	}
	return stored, nil
}

// rehydrateTeams is upstream's post-refresh membership hook: a session
// without a Private Teamspace (teams stored before it existed) asks
// /api/v1/me again and adopts its teams when they include one. Any failure
// leaves the teams as they were.
func (r *refresher) rehydrateTeams(ctx context.Context, server string, st *Stored) {
	for _, t := range st.Teams {
		if t.IsPrivateTeamspace {
			return
		}
	}
	body, err := FetchMe(ctx, r.client, server, st.AccessToken)
	if err != nil {
		return
	}
	var me struct {
		Teams []Team `json:"teams"`
	}
	if json.Unmarshal(body, &me) != nil {
		return
	}
	for _, t := range me.Teams {
		if t.IsPrivateTeamspace {
			st.Teams, st.DefaultTeamID = me.Teams, t.ID
			return
		}
	}
}

// reconcileRejection is upstream's fix for concurrent refreshers: the
// session is deleted only when the rejected material is still the stored
// one; a session another process stored meanwhile is kept.
func (r *refresher) reconcileRejection(sent *Stored, cause error) (*Stored, error) {
	again, err := r.store.Read()
	if err != nil || again == nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLoggedIn, cause)
	}
	if sameMaterial(again, sent) || again.RefreshExpired(r.now()) {
		// Removed under the session lock only while it is still the
		// session just judged; one stored meanwhile is left alone.
		removed, derr := r.store.deleteIfSame(again)
		switch {
		case derr != nil:
			return nil, fmt.Errorf("%w: %w (and removing it failed: %v)", ErrNotLoggedIn, cause, derr)
		case !removed:
			return nil, fmt.Errorf("%w: %w; another login was stored meanwhile", ErrRefreshRetry, cause)
		}
		return nil, fmt.Errorf("%w: %w; run spec-kitty auth login", ErrNotLoggedIn, cause)
	}
	if again.AccessExpired(r.now(), refreshBuffer) {
		return nil, fmt.Errorf("%w: %w", ErrRefreshRetry, cause)
	}
	return again, nil
}

var errNoServer = errors.New("no sync server is configured: set " + EnvServerURL + " or log in with --server")
