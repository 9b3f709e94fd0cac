// Package session reads and writes the auth session, auth/session.json under
// the runtime root (SPEC §3): the server the uploader talks to, who is logged
// in, and the bearer token. The file is mode 0600 and the token never leaves
// it except in the uploader's Authorization header.
package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// maxFileBytes bounds a session file. A real one is a few hundred bytes;
// anything far bigger is not ours and is not read into memory.
const maxFileBytes = 64 << 10

// ErrInvalid reports a session whose fields fail validation: the user's
// mistake at login, or a hand-edited file.
var ErrInvalid = errors.New("invalid session")

// Session is an authenticated session with a sync server.
type Session struct {
	ServerURL   string    `json:"server_url"`
	Email       string    `json:"principal"`
	Team        string    `json:"team"`
	AccessToken string    `json:"access_token"`
	CreatedAt   time.Time `json:"created_at"`
}

// New builds a validated session for login. The server URL loses any
// trailing slash so that API paths can be appended to it, and the token
// loses surrounding whitespace (it usually arrives on stdin with a newline).
func New(serverURL, email, team, token string) (*Session, error) {
	s := &Session{
		ServerURL:   strings.TrimRight(strings.TrimSpace(serverURL), "/"),
		Email:       strings.TrimSpace(email),
		Team:        strings.TrimSpace(team),
		AccessToken: strings.TrimSpace(token),
		CreatedAt:   time.Now().UTC().Truncate(time.Second),
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate reports whether the session is usable: an http or https server
// URL with a host, an email address, and a token without whitespace.
func (s *Session) Validate() error {
	if err := ValidateServerURL(s.ServerURL); err != nil {
		return err
	}
	if err := ValidateEmail(s.Email); err != nil {
		return err
	}
	return ValidateToken(s.AccessToken)
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

// Load reads the session at path. A missing file is no session: (nil, nil).
// A file that is not a valid session is an error naming the file.
func Load(path string) (*Session, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading session %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading session %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("reading session %s: %w: file is larger than %d bytes", path, ErrInvalid, maxFileBytes)
	}
	var s Session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading session %s: %w: %v", path, ErrInvalid, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("reading session %s: %w", path, err)
	}
	return &s, nil
}

// Save validates s and writes it to path atomically with mode 0600.
func Save(path string, s *Session) error {
	if s == nil {
		return fmt.Errorf("saving session %s: %w: no session", path, ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("saving session %s: %w", path, err)
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding session: %w", err)
	}
	if err := paths.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving session: %w", err)
	}
	return nil
}

// Remove deletes the session at path; a missing file is not an error.
func Remove(path string) error {
	if err := paths.RemoveIfExists(path); err != nil {
		return fmt.Errorf("removing session %s: %w", path, err)
	}
	return nil
}
