package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Upstream's OAuth login (specify_cli/auth/flows/authorization_code.py and
// device_code.py): client "cli_native", scope "offline_access", the
// authorization code grant with PKCE (S256) and a loopback redirect to
// http://127.0.0.1:<port>/callback, or the device authorization grant
// (POST /oauth/device); then GET /api/v1/me names the user and the teams.

const (
	// callbackTimeout is how long the browser flow waits for the redirect
	// (upstream's CallbackServer: 5 minutes).
	callbackTimeout = 5 * time.Minute
	// callbackFirstPort..callbackLastPort are upstream's preferred loopback
	// ports (small firewall allowlists); an OS-assigned port follows.
	callbackFirstPort = 28888
	callbackLastPort  = 28898
)

// Endpoints of a spec-kitty server.
func oauthConfig(server, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: clientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:       server + "/oauth/authorize",
			TokenURL:      server + "/oauth/token",
			DeviceAuthURL: server + "/oauth/device",
			AuthStyle:     oauth2.AuthStyleInParams,
		},
		RedirectURL: redirect,
		Scopes:      []string{defaultScope},
	}
}

// Login is one interactive login against a server.
type Login struct {
	ServerURL string
	// Out receives what the user must read (the code, the URL).
	Out io.Writer
	// Client makes the HTTP calls; nil is http.DefaultClient.
	Client *http.Client
	// OpenBrowser opens a URL; nil or an error means no browser.
	OpenBrowser func(url string) error
	// CallbackTimeout bounds the browser flow's wait for the redirect;
	// zero is upstream's 5 minutes.
	CallbackTimeout time.Duration
}

func (l *Login) ctx(ctx context.Context) context.Context {
	if l.Client != nil {
		return context.WithValue(ctx, oauth2.HTTPClient, l.Client)
	}
	return ctx
}

func (l *Login) client() *http.Client {
	if l.Client != nil {
		return l.Client
	}
	return http.DefaultClient
}

// Device runs the device authorization grant: it prints the URL and code
// and polls until the user approves, denies or the code expires.
func (l *Login) Device(ctx context.Context) (*Stored, error) {
	cfg := oauthConfig(l.ServerURL, "")
	octx := l.ctx(ctx)
	rctx, cancel := context.WithTimeout(octx, httpTimeout)
	da, err := cfg.DeviceAuth(rctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("requesting a device code: %w", err)
	}
	fmt.Fprintf(l.Out, "Visit: %s\nCode:  %s\n", da.VerificationURI, formatUserCode(da.UserCode))
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(l.Out, "Or open: %s\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(l.Out, "Waiting for authorization…")
	tok, err := cfg.DeviceAccessToken(octx, da)
	if err != nil {
		return nil, fmt.Errorf("waiting for the device authorization: %w", err)
	}
	return l.session(ctx, tok, "device_code")
}

// Browser runs the authorization code grant with PKCE through the user's
// browser and a loopback redirect. It returns errNoBrowser when no browser
// could be opened, so the caller can fall back to Device.
func (l *Login) Browser(ctx context.Context) (*Stored, error) {
	if l.OpenBrowser == nil {
		return nil, ErrNoBrowser
	}
	ln, err := listenCallback()
	if err != nil {
		return nil, fmt.Errorf("listening for the login callback: %w", err)
	}
	redirect := "http://" + ln.Addr().String() + "/callback"
	cfg := oauthConfig(l.ServerURL, redirect)
	verifier := oauth2.GenerateVerifier()
	cb := newCallback(randomToken())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: cb}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	authURL := cfg.AuthCodeURL(cb.state, oauth2.S256ChallengeOption(verifier))
	if err := l.OpenBrowser(authURL); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBrowser, err)
	}
	fmt.Fprintf(l.Out, "Opened your browser to log in. If it did not open, visit:\n  %s\n", authURL)
	timeout := l.CallbackTimeout
	if timeout <= 0 {
		timeout = callbackTimeout
	}
	q, err := cb.wait(ctx, timeout)
	if err != nil {
		return nil, err
	}
	if e := q.Get("error"); e != "" {
		// Quoted: the text comes from a request, and control characters
		// in it must not reach the terminal.
		return nil, fmt.Errorf("login refused by the server: %q", e)
	}
	if q.Get("code") == "" {
		return nil, errors.New("login callback has no code")
	}
	xctx, cancel := context.WithTimeout(l.ctx(ctx), httpTimeout)
	defer cancel()
	tok, err := cfg.Exchange(xctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("exchanging the login code: %w", err)
	}
	return l.session(ctx, tok, "authorization_code")
}

// ErrNoBrowser reports that the browser flow cannot run here.
var ErrNoBrowser = errors.New("no browser available")

func listenCallback() (net.Listener, error) {
	for p := callbackFirstPort; p <= callbackLastPort; p++ {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// formatUserCode chunks a user code by four, as upstream shows it.
func formatUserCode(code string) string {
	c := strings.NewReplacer("-", "", " ", "").Replace(code)
	if len(c) <= 4 {
		return c
	}
	var parts []string
	for i := 0; i < len(c); i += 4 {
		parts = append(parts, c[i:min(i+4, len(c))])
	}
	return strings.Join(parts, "-")
}

// session builds the stored session of a fresh token: /api/v1/me names the
// user and teams, the default team is the Private Teamspace if any, else
// the first team (upstream's pick_default_team_id).
func (l *Login) session(ctx context.Context, tok *oauth2.Token, method string) (*Stored, error) {
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		return nil, errors.New("the token response lacks an access or refresh token")
	}
	me, err := FetchMe(ctx, l.client(), l.ServerURL, tok.AccessToken)
	if err != nil {
		return nil, err
	}
	var m struct {
		UserID any    `json:"user_id"`
		Email  string `json:"email"`
		Name   string `json:"name"`
		Teams  []Team `json:"teams"`
	}
	if err := json.Unmarshal(me, &m); err != nil {
		return nil, fmt.Errorf("reading /api/v1/me: %w", err)
	}
	if m.UserID == nil || m.Email == "" {
		return nil, errors.New("reading /api/v1/me: user_id or email missing")
	}
	if len(m.Teams) == 0 {
		return nil, errors.New("your account has no team memberships; ask your administrator")
	}
	var meMap map[string]any
	_ = json.Unmarshal(me, &meMap)
	now := time.Now().UTC()
	expires := tok.Expiry
	if expires.IsZero() {
		expires = now.Add(defaultExpiresIn)
	}
	tokens := map[string]any{}
	for _, k := range []string{"refresh_token_expires_at", "refresh_token_expires_in", "scope", "session_id"} {
		if v := tok.Extra(k); v != nil {
			tokens[k] = v
		}
	}
	name := m.Name
	if name == "" {
		name = m.Email
	}
	scope := str(tokens, "scope")
	if scope == "" {
		scope = defaultScope
	}
	def := m.Teams[0].ID
	for _, t := range m.Teams {
		if t.IsPrivateTeamspace {
			def = t.ID
			break
		}
	}
	return &Stored{
		UserID: fmt.Sprint(m.UserID), Email: m.Email, Name: name, Teams: m.Teams, DefaultTeamID: def,
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, SessionID: str(tokens, "session_id"),
		IssuedAt: now, AccessExpires: expires.UTC(), RefreshExpires: refreshExpiry(tokens, meMap, now, time.Time{}),
		Scope: scope, StorageBackend: "file", LastUsedAt: now, AuthMethod: method, ServerURL: l.ServerURL,
	}, nil
}

// FetchMe returns the body of GET /api/v1/me.
func FetchMe(ctx context.Context, client *http.Client, server, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/api/v1/me", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching /api/v1/me: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOAuthBody))
	if err != nil {
		return nil, fmt.Errorf("fetching /api/v1/me: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching /api/v1/me: HTTP %d", resp.StatusCode)
	}
	return body, nil
}

// RevokeOutcome is how a logout's revocation went (upstream's RevokeOutcome).
type RevokeOutcome string

// The revocation outcomes.
const (
	Revoked        RevokeOutcome = "revoked"
	RevokeFailed   RevokeOutcome = "server_failure"
	RevokeNetwork  RevokeOutcome = "network_error"
	RevokeNoToken  RevokeOutcome = "no_refresh_token"
	RevokeNoServer RevokeOutcome = "no_server"
)

// revokeTimeout bounds logout's best-effort revocation: local logout never
// waits long on a server that is down.
const revokeTimeout = 5 * time.Second

// Revoke asks the server to revoke the refresh token (RFC 7009, POST
// /oauth/revoke; token possession is the authorization). It never fails:
// the outcome says what happened.
func Revoke(ctx context.Context, client *http.Client, server string, st *Stored) RevokeOutcome {
	if st.RefreshToken == "" {
		return RevokeNoToken
	}
	if server == "" {
		return RevokeNoServer
	}
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	status, body, err := postForm(ctx, client, server+"/oauth/revoke", url.Values{
		"token": {st.RefreshToken}, "token_type_hint": {"refresh_token"},
	})
	if err != nil {
		return RevokeNetwork
	}
	var b struct {
		Revoked bool `json:"revoked"`
	}
	if status == http.StatusOK && json.Unmarshal(body, &b) == nil && b.Revoked {
		return Revoked
	}
	return RevokeFailed
}

// TokenFromServer builds the session of a CI token whose user and teams
// the server's /api/v1/me names. It has no refresh token.
func TokenFromServer(ctx context.Context, client *http.Client, server, token string, expiresIn time.Duration) (*Stored, error) {
	l := &Login{ServerURL: server, Client: client}
	if expiresIn <= 0 {
		expiresIn = defaultExpiresIn
	}
	st, err := l.session(ctx, &oauth2.Token{AccessToken: token, RefreshToken: "-", Expiry: time.Now().Add(expiresIn)}, tokenAuthMethod)
	if err != nil {
		return nil, err
	}
	st.RefreshToken = ""
	return st, nil
}
