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

// SyncStatus is the uploader's state as reported in the health payload.
type SyncStatus struct {
	Running             bool       `json:"running"`
	LastSync            *time.Time `json:"last_sync"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	QueueDepth          int        `json:"queue_depth"`
	// Parked counts queued events the server refused for good; they stay
	// in the queue, out of the upload loop, until an operator retries them.
	Parked int `json:"parked"`
	// LastError is the last upload failure, one line, never a token; nil
	// once an upload succeeds.
	LastError *string `json:"last_error"`
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
	// LogRotationError is why the daemon's log could not be rotated (SPEC
	// §8: never silent); absent while rotation works.
	LogRotationError *string `json:"log_rotation_error,omitempty"`
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
