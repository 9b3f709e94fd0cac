// Package session reads and writes the login shared with the Python CLI:
// auth/session.json, auth/session.salt and the auth locks under the runtime
// root (SPEC §3), in the Python CLI's encrypted format (see store.go). It
// refreshes the access token the way upstream does (refresh.go), performs
// upstream's OAuth logins (oauth.go), and hands the uploader credentials
// through Provider. Tokens never leave it except in Authorization headers
// and the encrypted file.
package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
)

// maxFileBytes bounds a session file. A real one is a couple of KiB;
// anything far bigger is not a session and is not read into memory.
const maxFileBytes = 256 << 10

// EnvServerURL is the Python CLI's server override, honoured here too so
// that both programs talk to one server.
const EnvServerURL = "SPEC_KITTY_SAAS_URL"

// ErrInvalid reports a session whose content is not usable: malformed, of
// another format, or undecryptable.
var ErrInvalid = errors.New("invalid session")

// ErrUntrusted reports a session file that is a symlink, not a regular
// file, not the user's or readable by others: it is never used (SPEC §3).
var ErrUntrusted = errors.New("untrusted session file")

// Session is what the rest of the program needs to know about the login:
// where events go, for whom, and the bearer token.
type Session struct {
	ServerURL   string
	Email       string
	Team        string
	AccessToken string

	Name           string
	UserID         string
	Teams          []Team
	AccessExpires  time.Time
	RefreshExpires time.Time // zero: unknown
	AuthMethod     string
	// CanRefresh reports whether the session has a refresh token.
	CanRefresh bool

	// storedServer is the server recorded in the session itself ("" when
	// none was), which a summary carries so its reader resolves the server
	// with its own environment.
	storedServer string
}

// Expired reports whether the login can no longer be used without a new
// login: the refresh token has expired, or the access token has and there
// is no refresh token.
func (s *Session) Expired(now time.Time) bool {
	if !s.RefreshExpires.IsZero() && !s.RefreshExpires.After(now) {
		return true
	}
	return !s.CanRefresh && !s.AccessExpires.After(now)
}

// view builds the Session of a stored one.
func view(st *Stored, serverURL string) *Session {
	return &Session{
		ServerURL: serverURL, Email: st.Email, Team: st.TeamSlug(), AccessToken: st.AccessToken,
		Name: st.Name, UserID: st.UserID, Teams: st.Teams, AccessExpires: st.AccessExpires,
		RefreshExpires: st.RefreshExpires, AuthMethod: st.AuthMethod, CanRefresh: st.RefreshToken != "",
		storedServer: st.ServerURL,
	}
}

// ValidateServerURL checks a server URL given at login.
func ValidateServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: server URL %q: %v", ErrInvalid, raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: server URL %q must start with http:// or https://", ErrInvalid, raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: server URL %q has no host", ErrInvalid, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: server URL must not carry credentials; the token goes on stdin", ErrInvalid)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: server URL %q must not have a query or fragment", ErrInvalid, raw)
	}
	return nil
}

// NormalizeServerURL trims space and trailing slashes.
func NormalizeServerURL(raw string) string { return strings.TrimRight(strings.TrimSpace(raw), "/") }

// ValidateEmail checks the principal's email address. It only rules out
// obvious mistakes; the server is the judge of who exists.
func ValidateEmail(email string) error {
	if email == "" {
		return fmt.Errorf("%w: email is empty", ErrInvalid)
	}
	at := strings.IndexByte(email, '@')
	if at <= 0 || at == len(email)-1 || strings.ContainsFunc(email, unicode.IsSpace) {
		return fmt.Errorf("%w: %q is not an email address", ErrInvalid, email)
	}
	return nil
}

// ValidateToken checks an access token. The error never quotes the token.
func ValidateToken(token string) error {
	if token == "" {
		return fmt.Errorf("%w: access token is empty", ErrInvalid)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("%w: access token contains whitespace or control characters", ErrInvalid)
	}
	return nil
}

// AuthScope identifies whom the session acts for: server_url|principal|team
// (SPEC §4.2).
func (s *Session) AuthScope() string {
	return s.ServerURL + "|" + s.Email + "|" + s.Team
}

// LogValue keeps the token out of every log line that mentions a session.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("server_url", s.ServerURL),
		slog.String("principal", s.Email),
		slog.String("team", s.Team),
	)
}

// ResolveServerURL is the server a session talks to, resolved as the Python
// CLI resolves it with one addition: $SPEC_KITTY_SAAS_URL, else the server
// this program's login recorded in the session, else [sync].server_url of
// the runtime root's config.toml. Empty when none says.
func ResolveServerURL(root string, st *Stored) string {
	stored := ""
	if st != nil {
		stored = st.ServerURL
	}
	return resolveServer(root, stored)
}

// resolveServer is ResolveServerURL given the server the session records.
func resolveServer(root, stored string) string {
	if v := NormalizeServerURL(os.Getenv(EnvServerURL)); v != "" {
		return v
	}
	if stored != "" {
		return NormalizeServerURL(stored)
	}
	return configServerURL(root)
}

// configServerURL reads [sync].server_url from root/config.toml, the Python
// CLI's configuration; any problem reading it is "not configured".
func configServerURL(root string) string {
	data, err := readTrusted(filepath.Join(root, "config.toml"), 1<<20, false)
	if err != nil {
		return ""
	}
	var cfg struct {
		Sync struct {
			ServerURL string `toml:"server_url"`
		} `toml:"sync"`
	}
	if _, err := toml.Decode(string(data), &cfg); err != nil {
		return ""
	}
	return NormalizeServerURL(cfg.Sync.ServerURL)
}

// Load reads the session whose file is path (auth/session.json under a
// runtime root). No session file is no session: (nil, nil). A file that is
// untrusted, of another format or not decryptable here is an error naming
// the file.
func Load(path string) (*Session, error) {
	st, err := storeFor(path).Read()
	if err != nil || st == nil {
		return nil, err
	}
	return view(st, ResolveServerURL(rootOf(path), st)), nil
}

// rootOf is the runtime root of auth/session.json.
func rootOf(sessionFile string) string { return filepath.Dir(filepath.Dir(sessionFile)) }

func dirOf(path string) string { return filepath.Dir(path) }

// TokenLogin is the non-interactive login (CI): a token obtained elsewhere,
// stored in the shared format so that both CLIs see it. It has no refresh
// token; when it expires the user logs in again.
type TokenLogin struct {
	ServerURL, Email, Team, Token string
	// ExpiresIn is how long the token is good for; the server decides, so
	// this only sets when this program stops using it.
	ExpiresIn time.Duration
}

// tokenAuthMethod marks a session stored by TokenLogin. Upstream's two
// methods are authorization_code and device_code; it shows others verbatim.
const tokenAuthMethod = "token"

// Stored builds the session to store, after validating the fields.
func (l TokenLogin) Stored(now time.Time) (*Stored, error) {
	server := NormalizeServerURL(l.ServerURL)
	if err := ValidateServerURL(server); err != nil {
		return nil, err
	}
	email := strings.TrimSpace(l.Email)
	if err := ValidateEmail(email); err != nil {
		return nil, err
	}
	tok := strings.TrimSpace(l.Token)
	if err := ValidateToken(tok); err != nil {
		return nil, err
	}
	team := strings.TrimSpace(l.Team)
	teams := []Team{}
	if team != "" {
		// The team named for a stored token is where its events go: its
		// Private Teamspace, the only team either CLI uploads to.
		teams = append(teams, Team{ID: team, Name: team, Role: "member", IsPrivateTeamspace: true})
	}
	if l.ExpiresIn <= 0 {
		l.ExpiresIn = defaultExpiresIn
	}
	now = now.UTC()
	return &Stored{
		UserID: email, Email: email, Name: email, Teams: teams, DefaultTeamID: team,
		AccessToken: tok, IssuedAt: now, AccessExpires: now.Add(l.ExpiresIn),
		Scope: defaultScope, StorageBackend: "file", LastUsedAt: now, AuthMethod: tokenAuthMethod,
		ServerURL: server,
	}, nil
}

// Save stores st as the session of the runtime root's auth directory,
// replacing any session stored there (login --force).
func Save(sessionFile string, st *Stored) error {
	if st == nil {
		return fmt.Errorf("saving session %s: %w: no session", sessionFile, ErrInvalid)
	}
	return storeFor(sessionFile).Write(st)
}

// SaveNew stores st unless a usable session is stored (Store.Create); then
// it returns an error wrapping ErrExists and changes nothing (login
// without --force).
func SaveNew(sessionFile string, st *Stored) error {
	if st == nil {
		return fmt.Errorf("saving session %s: %w: no session", sessionFile, ErrInvalid)
	}
	return storeFor(sessionFile).Create(st)
}

// Remove deletes the session files upstream's logout deletes, without
// reading them, and returns the paths it removed; no session is not an
// error.
func Remove(sessionFile string) ([]string, error) {
	removed, err := storeFor(sessionFile).Delete()
	if err != nil {
		return removed, fmt.Errorf("removing session %s: %w", sessionFile, err)
	}
	return removed, nil
}

// ReadStored reads the full stored session of the session file path; no
// file is (nil, nil).
func ReadStored(sessionFile string) (*Stored, error) { return storeFor(sessionFile).Read() }

// ServerFor is the server the stored session of sessionFile talks to (see
// ResolveServerURL).
func ServerFor(sessionFile string, st *Stored) string {
	return ResolveServerURL(rootOf(sessionFile), st)
}
