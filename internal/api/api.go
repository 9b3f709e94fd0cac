// Package api holds the wire types shared by the daemons, their client, the
// doctor and the CLI. Field names are normative (SPEC §4.2, §6, §8, §12):
// other programs parse them.
package api

import "time"

// ProtocolVersion is the control-plane protocol spoken by this build.
const ProtocolVersion = 1

// Daemon families.
const (
	FamilySync      = "sync"
	FamilyDashboard = "dashboard"
)

// PortRange is a half-open range of TCP ports [Lo, Hi).
type PortRange struct {
	Lo, Hi int
}

// Contains reports whether port is inside the range.
func (r PortRange) Contains(port int) bool { return port >= r.Lo && port < r.Hi }

// Ports returns every port of the range in ascending order.
func (r PortRange) Ports() []int {
	ports := make([]int, 0, r.Hi-r.Lo)
	for p := r.Lo; p < r.Hi; p++ {
		ports = append(ports, p)
	}
	return ports
}

// The two families' port ranges (SPEC §2). They do not overlap.
var (
	SyncRange      = PortRange{Lo: 9400, Hi: 9450}
	DashboardRange = PortRange{Lo: 9237, Hi: 9337}
)

// RangeOf returns the port range of a family.
func RangeOf(family string) (PortRange, bool) {
	switch family {
	case FamilySync:
		return SyncRange, true
	case FamilyDashboard:
		return DashboardRange, true
	}
	return PortRange{}, false
}

// UploadStatus is the uploader's state and its upload health (SPEC §10
// *Upload health*): the `sync` object of `sync status --json`, each field
// once (SPEC §12).
type UploadStatus struct {
	// Uploading reports a batch in flight.
	Uploading bool `json:"uploading"`
	// LastSync is when the last upload attempt ended, whatever its outcome.
	LastSync *time.Time `json:"last_sync"`
	// LastSuccessAt is when the server last answered a batch; nil when no
	// upload succeeded in this daemon's life.
	LastSuccessAt *time.Time `json:"last_success_at"`
	// FailingSince is the first failure after the last success; nil while
	// uploads succeed.
	FailingSince        *time.Time `json:"failing_since"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	// LastError is the last upload failure, one readable line, never a
	// token (the raw error is in the log); nil once an upload succeeds.
	LastError  *string `json:"last_error"`
	QueueDepth int     `json:"queue_depth"`
	// Parked counts queued events the server refused for good; they stay
	// in the queue, out of the upload loop, until an operator retries them.
	Parked int `json:"parked"`
}

// SyncStatus is the health payload's `sync` object: the upload status and
// `running`, the name SPEC §4.2's example gives to Uploading, kept for the
// readers of the health payload.
type SyncStatus struct {
	Running bool `json:"running"`
	// Uploader reports that this daemon holds sync-daemon-upload.lock: the
	// one daemon of the scope that sends batches. Any other one queues and
	// answers, and takes the lock over when its holder exits.
	Uploader bool `json:"uploader"`
	UploadStatus
}

// Owner describes the process that serves a health answer.
type Owner struct {
	PID            int       `json:"pid"`
	Port           int       `json:"port"`
	PackageVersion string    `json:"package_version"`
	ExecutablePath string    `json:"executable_path"`
	ServerURL      *string   `json:"server_url"`
	AuthPrincipal  *string   `json:"auth_principal"`
	AuthTeam       *string   `json:"auth_team"`
	AuthScope      *string   `json:"auth_scope"`
	QueueDBPath    string    `json:"queue_db_path"`
	StartedAt      time.Time `json:"started_at"`
}

// Health is the payload of GET /api/health (SPEC §4.2). The dashboard fills
// ProjectPath and leaves the sync-only parts empty.
type Health struct {
	Status           string      `json:"status"`
	DaemonFamily     string      `json:"daemon_family"`
	SingletonScopeID string      `json:"singleton_scope_id,omitempty"`
	ProtocolVersion  int         `json:"protocol_version"`
	PackageVersion   string      `json:"package_version"`
	ProjectPath      string      `json:"project_path,omitempty"`
	Sync             *SyncStatus `json:"sync,omitempty"`
	Owner            *Owner      `json:"owner,omitempty"`
	// ScopeMarker is the --spec-kitty-daemon-root value the daemon was
	// spawned with; empty for a pre-marker daemon. Only ever used to
	// withhold action: a token-proven listener that reports no marker of
	// this scope stays operator_required (SPEC §7 row 6).
	ScopeMarker string `json:"scope_marker,omitempty"`
	// Session is the token-free summary of the login the daemon holds, tied
	// to the session file it read (SPEC §3 "The login is read cheaply").
	Session *SessionSummary `json:"session,omitempty"`
	// LogRotationError is why the daemon's log could not be rotated (SPEC
	// §8: never silent); absent while rotation works.
	LogRotationError *string `json:"log_rotation_error,omitempty"`
}

// SessionFingerprint names one version of auth/session.json: upstream's
// durable_fingerprint of session.hot-path.json (stat's st_mtime_ns,
// st_size, st_ino).
type SessionFingerprint struct {
	Inode   uint64 `json:"inode"`
	MtimeNS int64  `json:"mtime_ns"`
	Size    int64  `json:"size"`
}

// SessionTeam is one team of a SessionSummary.
type SessionTeam struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Role               string `json:"role"`
	IsPrivateTeamspace bool   `json:"is_private_teamspace"`
}

// SessionSummary is what a command that only reports the login needs to
// know, and never a token: who, which team, until when. The principal,
// team and server are what health's owner already reports; the rest is of
// the same kind (identity and expiry, not credentials).
type SessionSummary struct {
	// Fingerprint is the session file the summary was read from; a reader
	// uses the summary only while the file still has it.
	Fingerprint SessionFingerprint `json:"durable_fingerprint"`
	// ServerURL is the server recorded in the session ("" when none was):
	// the reader resolves the server itself, its environment first.
	ServerURL       string        `json:"server_url"`
	Email           string        `json:"email"`
	Name            string        `json:"name"`
	UserID          string        `json:"user_id"`
	Team            string        `json:"team"`
	Teams           []SessionTeam `json:"teams"`
	AccessExpires   time.Time     `json:"access_token_expires_at"`
	RefreshExpires  *time.Time    `json:"refresh_token_expires_at"`
	AuthMethod      string        `json:"auth_method"`
	HasRefreshToken bool          `json:"has_refresh_token"`
}

// ShutdownRequest is the body of POST /api/shutdown.
type ShutdownRequest struct {
	Token string `json:"token"`
}

// ShutdownResponse is the answer to an accepted shutdown request.
type ShutdownResponse struct {
	Status string `json:"status"`
}

// ChallengeRequest asks a daemon to prove it holds the control token without
// revealing it: it answers HMAC-SHA256(token, nonce).
type ChallengeRequest struct {
	Nonce string `json:"nonce"`
}

// ChallengeResponse carries the hex-encoded MAC of the nonce.
type ChallengeResponse struct {
	MAC string `json:"mac"`
}

// ErrorResponse is the body of every non-2xx control-plane answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// InstanceRecord is daemons/<port>.json: written by a daemon for itself so
// that a same-scope cleaner can ask it to shut down gracefully.
type InstanceRecord struct {
	PID       int       `json:"pid"`
	Port      int       `json:"port"`
	Token     string    `json:"token"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	// ProcStartTime is the daemon's process start time as the OS reports
	// it (procinfo): with the pid, it tells a live record from one whose
	// pid was reused. Zero when the platform could not read it.
	ProcStartTime uint64 `json:"proc_start_time,omitempty"`
}

// OwnerRecord is daemon/owner.json: reporting data only, never kill authority.
type OwnerRecord struct {
	PID            int       `json:"pid"`
	Port           int       `json:"port"`
	PackageVersion string    `json:"package_version"`
	ExecutablePath string    `json:"executable_path"`
	ScopeID        string    `json:"singleton_scope_id"`
	StartedAt      time.Time `json:"started_at"`
}
