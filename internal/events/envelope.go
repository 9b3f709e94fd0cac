package events

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Envelope is one spec-kitty-events envelope as queued and uploaded. The
// daemon stamps NodeID and LamportClock when it commits the event, so that
// the clock is monotonic across every process that publishes.
type Envelope struct {
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	AggregateID   string          `json:"aggregate_id"`
	AggregateType string          `json:"aggregate_type"`
	SchemaVersion string          `json:"schema_version"`
	BuildID       string          `json:"build_id"`
	Payload       json.RawMessage `json:"payload"`
	NodeID        string          `json:"node_id"`
	LamportClock  int64           `json:"lamport_clock"`
	CausationID   *string         `json:"causation_id"`
	CorrelationID string          `json:"correlation_id"`
	Timestamp     string          `json:"timestamp"`
	TeamSlug      *string         `json:"team_slug"`
	ProjectUUID   string          `json:"project_uuid"`
	ProjectSlug   *string         `json:"project_slug"`
	GitBranch     *string         `json:"git_branch"`
	HeadCommitSHA *string         `json:"head_commit_sha"`
	RepoSlug      *string         `json:"repo_slug"`
}

// Request is what a publish asks for; Build turns it into an envelope.
type Request struct {
	Type          string
	AggregateID   string
	AggregateType string
	// Payload is a JSON object; empty means {}.
	Payload json.RawMessage
	// EventID is a caller-chosen ULID that makes a retry idempotent; empty
	// means a fresh one.
	EventID string
	Project Project
	// Team is the session's team slug; empty leaves team_slug null and the
	// uploader fills it from the credentials it sends with.
	Team string
	// NodeID is the machine's node id; the daemon replaces it with the one
	// it keeps, so it only has to be plausible for validation.
	NodeID string
	Now    time.Time
}

// Build returns the validated envelope for r, or an error wrapping
// ErrInvalid that names the field.
func Build(r Request) (Envelope, []byte, error) {
	if !Known(r.Type) {
		return Envelope{}, nil, invalidf("event_type: unknown event type %q; valid types: %s", r.Type, strings.Join(Types(), ", "))
	}
	id := r.EventID
	if id == "" {
		id = NewID(r.Now)
	} else if _, err := ulid.ParseStrict(id); err != nil {
		return Envelope{}, nil, invalidf("event_id: %q is not a ULID (26 Crockford base32 characters)", id)
	}
	payload := r.Payload
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = json.RawMessage("{}")
	}
	if !json.Valid(payload) {
		return Envelope{}, nil, invalidf("payload: not valid JSON")
	}
	payload = NormalizePayload(payload)
	if r.Type == "BuildRegistered" || r.Type == "BuildHeartbeat" {
		payload = withDefault(payload, "build_id", r.Project.BuildID)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil {
		return Envelope{}, nil, invalidf("payload: not valid JSON: %v", err)
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	env := Envelope{
		EventID:       id,
		EventType:     r.Type,
		AggregateID:   r.AggregateID,
		AggregateType: r.AggregateType,
		SchemaVersion: SchemaVersion,
		BuildID:       r.Project.BuildID,
		Payload:       compact.Bytes(),
		NodeID:        r.NodeID,
		CorrelationID: id,
		Timestamp:     r.Now.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		ProjectUUID:   r.Project.UUID,
		ProjectSlug:   nonEmpty(r.Project.Slug),
		RepoSlug:      nonEmpty(r.Project.RepoSlug),
		TeamSlug:      nonEmpty(r.Team),
	}
	if env.NodeID == "" {
		env.NodeID = DefaultNodeID()
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("encoding the envelope: %w", err)
	}
	if err := Validate(raw); err != nil {
		return Envelope{}, nil, err
	}
	return env, raw, nil
}

// NewID returns a fresh ULID for t (now when zero).
func NewID(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return ulid.MustNew(ulid.Timestamp(t), rand.Reader).String()
}

// NormalizePayload resolves the lane alias "doing" to "in_progress", as the
// upstream CLI does at its input boundary; anything else is unchanged.
func NormalizePayload(payload []byte) []byte {
	var obj map[string]json.RawMessage
	if json.Unmarshal(payload, &obj) != nil {
		return payload
	}
	changed := false
	for _, k := range []string{"from_lane", "to_lane"} {
		if string(obj[k]) == `"doing"` {
			obj[k] = json.RawMessage(`"in_progress"`)
			changed = true
		}
	}
	if !changed {
		return payload
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return payload
	}
	return out
}

func withDefault(payload []byte, key, value string) []byte {
	var obj map[string]json.RawMessage
	if value == "" || json.Unmarshal(payload, &obj) != nil {
		return payload
	}
	if _, ok := obj[key]; ok {
		return payload
	}
	obj[key], _ = json.Marshal(value)
	out, err := json.Marshal(obj)
	if err != nil {
		return payload
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// DefaultNodeID is the upstream CLI's machine identifier: the first 12 hex
// digits of SHA-256 over "hostname:username". The daemon records the value
// it first used and keeps it, so events of one machine share one node id.
func DefaultNodeID() string {
	host, _ := os.Hostname()
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	sum := sha256.Sum256([]byte(host + ":" + name))
	return hex.EncodeToString(sum[:])[:12]
}

// uuid5 returns the name-based (SHA-1) UUID of name in namespace ns.
func uuid5(ns [16]byte, name string) [16]byte {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	clean := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			clean = append(clean, s[i])
		}
	}
	if len(clean) != 32 {
		return u, false
	}
	if _, err := hex.Decode(u[:], clean); err != nil {
		return u, false
	}
	return u, true
}
