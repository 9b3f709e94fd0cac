package session

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// EnvDebugKeys set to "1" makes every derivation of the session key print
// one line on stderr: the way a test (or a curious user) sees that a
// command which only reports the login derived no key.
const EnvDebugKeys = "SPEC_KITTY_DEBUG_SESSION_KEY"

// keyDebugLine is what that line says.
const keyDebugLine = "spec-kitty debug: derived the session key (scrypt)"

var derivations atomic.Int64

// KeyDerivations is how many times this process derived the session key.
func KeyDerivations() int64 { return derivations.Load() }

func countDerivation() {
	derivations.Add(1)
	if os.Getenv(EnvDebugKeys) == "1" {
		fmt.Fprintln(os.Stderr, keyDebugLine)
	}
}

// readSessionFile reads the session file with the fingerprint of the file
// it read (fstat of the open file, so content and fingerprint always
// belong together).
func (s *Store) readSessionFile() ([]byte, api.SessionFingerprint, error) {
	f, err := openTrusted(s.SessionPath(), true)
	if err != nil {
		return nil, api.SessionFingerprint{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, api.SessionFingerprint{}, err
	}
	raw, err := readLimited(f, s.SessionPath(), maxFileBytes)
	return raw, durableFingerprint(fi), err
}

// Describe returns the login of the session file path without its token,
// for commands that only report it (SPEC §3 "The login is read cheaply"):
// from held — the summary the running daemon gave of the session it holds
// — while the file still has its fingerprint, else from a fresh hot-path
// file that names the user, and only else by decrypting the session (which
// derives the key and publishes a fresh hot-path file). The file's trust
// is checked every time, as Load checks it; what Load refuses, Describe
// refuses with the same error.
func Describe(path string, held *api.SessionSummary) (*Session, error) {
	st := storeFor(path)
	if err := checkDir(st.Dir); err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	fp, err := st.trustedFingerprint()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading session %s: %w", path, err)
	}
	if st.saltUsable(fp) {
		if held != nil && held.Fingerprint == fp && held.Email != "" {
			return fromSummary(path, held), nil
		}
		if hp := st.loadHotPath(fp, time.Now()); hp != nil && hp.presence != nil {
			return fromSummary(path, hp.presence), nil
		}
	}
	return Load(path)
}

// trustedFingerprint opens the session file as Read does, without reading
// it, and returns its fingerprint.
func (s *Store) trustedFingerprint() (api.SessionFingerprint, error) {
	f, err := openTrusted(s.SessionPath(), true)
	if err != nil {
		return api.SessionFingerprint{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return api.SessionFingerprint{}, err
	}
	return durableFingerprint(fi), nil
}

// saltUsable reports whether the salt is there, of the right size, and no
// newer than the session file whose fingerprint is fp: a session is
// always written after its salt, so a newer salt is another salt, the
// session no longer decrypts, and neither fingerprint (which is of
// session.json alone) may vouch for it. Otherwise Describe lets Load say
// what is wrong.
func (s *Store) saltUsable(fp api.SessionFingerprint) bool {
	f, err := openTrusted(s.SaltPath(), false)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	return err == nil && fi.Size() == saltLen && fi.ModTime().UnixNano() <= fp.MtimeNS
}

// fromSummary is the Session a summary describes, without a token, its
// server resolved here as Load resolves it.
func fromSummary(path string, p *api.SessionSummary) *Session {
	teams := make([]Team, 0, len(p.Teams))
	for _, t := range p.Teams {
		teams = append(teams, Team(t))
	}
	s := &Session{
		ServerURL: resolveServer(rootOf(path), p.ServerURL), Email: p.Email, Team: p.Team,
		Name: p.Name, UserID: p.UserID, Teams: teams, AccessExpires: p.AccessExpires,
		AuthMethod: p.AuthMethod, CanRefresh: p.HasRefreshToken, storedServer: p.ServerURL,
	}
	if p.RefreshExpires != nil {
		s.RefreshExpires = *p.RefreshExpires
	}
	return s
}

// Summary is the token-free summary of s, read from the file whose
// fingerprint is fp.
func (s *Session) Summary(fp api.SessionFingerprint) *api.SessionSummary {
	teams := make([]api.SessionTeam, 0, len(s.Teams))
	for _, t := range s.Teams {
		teams = append(teams, api.SessionTeam(t))
	}
	p := &api.SessionSummary{
		Fingerprint: fp, ServerURL: s.storedServer, Email: s.Email, Name: s.Name, UserID: s.UserID,
		Team: s.Team, Teams: teams, AccessExpires: s.AccessExpires,
		AuthMethod: s.AuthMethod, HasRefreshToken: s.CanRefresh,
	}
	if !s.RefreshExpires.IsZero() {
		r := s.RefreshExpires
		p.RefreshExpires = &r
	}
	return p
}
