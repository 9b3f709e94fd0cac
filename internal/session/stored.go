package session

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Team is one team the user belongs to, as the server's /api/v1/me lists it
// and the Python CLI stores it.
type Team struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Role               string `json:"role"`
	IsPrivateTeamspace bool   `json:"is_private_teamspace"`
}

// Stored is the decrypted session, field for field what the Python CLI's
// StoredSession serialises. Keys this program does not know are kept in
// extra and written back unchanged, so a newer Python CLI's fields survive a
// refresh done here.
type Stored struct {
	UserID        string
	Email         string
	Name          string
	Teams         []Team
	DefaultTeamID string
	AccessToken   string
	RefreshToken  string
	SessionID     string
	IssuedAt      time.Time
	AccessExpires time.Time
	// RefreshExpires is zero when the server never said (upstream's None).
	RefreshExpires time.Time
	Scope          string
	StorageBackend string
	LastUsedAt     time.Time
	AuthMethod     string
	// Generation is upstream's token-family counter; nil is JSON null.
	Generation *int64
	// ServerURL is this program's addition: the server the login was made
	// against. The Python CLI ignores the key (and drops it when it rewrites
	// the session; the server is then resolved as it resolves it).
	ServerURL string

	extra  map[string]json.RawMessage
	teams  json.RawMessage // the teams exactly as read, kept when unchanged
	teamsV []Team          // Teams as read, to tell whether they changed
}

// wireRecord is the JSON shape of the plaintext.
type wireRecord struct {
	UserID         string          `json:"user_id"`
	Email          string          `json:"email"`
	Name           string          `json:"name"`
	Teams          json.RawMessage `json:"teams"`
	DefaultTeamID  string          `json:"default_team_id"`
	AccessToken    string          `json:"access_token"`
	RefreshToken   string          `json:"refresh_token"`
	SessionID      string          `json:"session_id"`
	IssuedAt       string          `json:"issued_at"`
	AccessExpires  string          `json:"access_token_expires_at"`
	RefreshExpires *string         `json:"refresh_token_expires_at"`
	Scope          string          `json:"scope"`
	StorageBackend string          `json:"storage_backend"`
	LastUsedAt     string          `json:"last_used_at"`
	AuthMethod     string          `json:"auth_method"`
	Generation     *int64          `json:"generation"`
}

// requiredKeys are the keys the Python CLI's from_dict cannot do without.
var requiredKeys = []string{
	"user_id", "email", "name", "teams", "default_team_id", "access_token",
	"refresh_token", "session_id", "issued_at", "access_token_expires_at",
	"scope", "storage_backend", "last_used_at", "auth_method",
}

// knownKeys are every key wireRecord writes, plus server_url.
var knownKeys = append([]string{"refresh_token_expires_at", "generation", keyServerURL}, requiredKeys...)

const keyServerURL = "server_url"

// parseStored decodes a decrypted plaintext.
func parseStored(plain []byte) (*Stored, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(plain, &all); err != nil {
		return nil, fmt.Errorf("%w: decrypted session is not a JSON object: %v", ErrInvalid, err)
	}
	for _, k := range requiredKeys {
		if _, ok := all[k]; !ok {
			return nil, fmt.Errorf("%w: decrypted session lacks %q", ErrInvalid, k)
		}
	}
	var w wireRecord
	if err := json.Unmarshal(plain, &w); err != nil {
		return nil, fmt.Errorf("%w: decrypted session: %v", ErrInvalid, err)
	}
	s := &Stored{
		UserID: w.UserID, Email: w.Email, Name: w.Name, DefaultTeamID: w.DefaultTeamID,
		AccessToken: w.AccessToken, RefreshToken: w.RefreshToken, SessionID: w.SessionID,
		Scope: w.Scope, StorageBackend: w.StorageBackend, AuthMethod: w.AuthMethod,
		Generation: w.Generation, teams: w.Teams,
	}
	if err := json.Unmarshal(w.Teams, &s.Teams); err != nil {
		return nil, fmt.Errorf("%w: decrypted session: teams: %v", ErrInvalid, err)
	}
	s.teamsV = append([]Team(nil), s.Teams...)
	var err error
	for _, f := range []struct {
		name string
		raw  string
		dst  *time.Time
	}{
		{"issued_at", w.IssuedAt, &s.IssuedAt},
		{"access_token_expires_at", w.AccessExpires, &s.AccessExpires},
		{"last_used_at", w.LastUsedAt, &s.LastUsedAt},
	} {
		if *f.dst, err = parseISO(f.raw); err != nil {
			return nil, fmt.Errorf("%w: decrypted session: %s: %v", ErrInvalid, f.name, err)
		}
	}
	if w.RefreshExpires != nil && *w.RefreshExpires != "" {
		if s.RefreshExpires, err = parseISO(*w.RefreshExpires); err != nil {
			return nil, fmt.Errorf("%w: decrypted session: refresh_token_expires_at: %v", ErrInvalid, err)
		}
	}
	if raw, ok := all[keyServerURL]; ok {
		_ = json.Unmarshal(raw, &s.ServerURL) // a non-string is ignored, and kept below
	}
	s.extra = map[string]json.RawMessage{}
	for k, v := range all {
		if !isKnown(k) || (k == keyServerURL && s.ServerURL == "") {
			s.extra[k] = v
		}
	}
	return s, nil
}

func isKnown(k string) bool {
	for _, kk := range knownKeys {
		if k == kk {
			return true
		}
	}
	return false
}

// marshal encodes s as the plaintext, unknown keys included.
func (s *Stored) marshal() ([]byte, error) {
	teams := s.teams
	if teams == nil || !sameTeams(s.Teams, s.teamsV) {
		t := s.Teams
		if t == nil {
			t = []Team{}
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		teams = b
	}
	var refresh *string
	if !s.RefreshExpires.IsZero() {
		r := formatISO(s.RefreshExpires)
		refresh = &r
	}
	w := wireRecord{
		UserID: s.UserID, Email: s.Email, Name: s.Name, Teams: teams, DefaultTeamID: s.DefaultTeamID,
		AccessToken: s.AccessToken, RefreshToken: s.RefreshToken, SessionID: s.SessionID,
		IssuedAt: formatISO(s.IssuedAt), AccessExpires: formatISO(s.AccessExpires), RefreshExpires: refresh,
		Scope: s.Scope, StorageBackend: s.StorageBackend, LastUsedAt: formatISO(s.LastUsedAt),
		AuthMethod: s.AuthMethod, Generation: s.Generation,
	}
	known, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	for k, v := range s.extra {
		out[k] = v
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(known, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		out[k] = v
	}
	if s.ServerURL != "" {
		b, _ := json.Marshal(s.ServerURL)
		out[keyServerURL] = b
	}
	return json.Marshal(out)
}

func sameTeams(a, b []Team) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// PrivateTeam is the id of the Private Teamspace among teams, or "" when
// there is none: upstream's require_private_team_id.
func PrivateTeam(teams []Team) string {
	for _, t := range teams {
		if t.IsPrivateTeamspace {
			return t.ID
		}
	}
	return ""
}

// PrivateTeamID is the team events are sent for: the Private Teamspace
// only, as upstream's direct ingress requires. "" (none) withholds them;
// they never fall back to a shared team.
func (s *Stored) PrivateTeamID() string { return PrivateTeam(s.Teams) }

// TeamSlug is the team the login acts for as shown to the user: the
// Private Teamspace, else the client-picked default team. Events are sent
// only to PrivateTeamID.
func (s *Stored) TeamSlug() string {
	for _, t := range s.Teams {
		if t.IsPrivateTeamspace {
			return t.ID
		}
	}
	return s.DefaultTeamID
}

// AccessExpired reports whether the access token expires within buffer.
func (s *Stored) AccessExpired(now time.Time, buffer time.Duration) bool {
	return !s.AccessExpires.After(now.Add(buffer))
}

// RefreshExpired reports whether the refresh token is known to have
// expired; an unknown expiry is not expired (the server says so on refresh).
func (s *Stored) RefreshExpired(now time.Time) bool {
	return !s.RefreshExpires.IsZero() && !s.RefreshExpires.After(now)
}

// sameMaterial is upstream's identity rule: (session_id, refresh_token).
func sameMaterial(a, b *Stored) bool {
	return a.SessionID == b.SessionID && a.RefreshToken == b.RefreshToken
}

// formatISO writes a time as Python's datetime.isoformat() of an aware UTC
// value: microseconds when non-zero, and +00:00.
func formatISO(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05+00:00")
	}
	return t.Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000+00:00")
}

// parseISO reads what Python's isoformat writes (with or without an offset;
// a naive time is UTC, as upstream coerces it), and the Z suffix.
func parseISO(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 time", s)
}
