package api

import "encoding/json"

// StartResult is `spec-kitty sync start --json` (SPEC §12). A start that
// was skipped has no daemon: its pid, port, url and package_version are
// null in JSON (see MarshalJSON), never absent.
type StartResult struct {
	Started        bool         `json:"started"`
	Reused         bool         `json:"reused"`
	PID            int          `json:"pid"`
	Port           int          `json:"port"`
	URL            string       `json:"url"`
	PackageVersion string       `json:"package_version"`
	Reaped         []SweptEntry `json:"reaped"`
	SkippedReason  *string      `json:"skipped_reason"`
	// Notes are what ensure-running found and repaired on the way, such as
	// a malformed state file. Human output prints them to stderr.
	Notes []string `json:"notes"`
}

// MarshalJSON writes the daemon fields as null when no daemon was started
// or reused.
func (r StartResult) MarshalJSON() ([]byte, error) {
	type plain StartResult
	out := struct {
		plain
		PID            *int    `json:"pid"`
		Port           *int    `json:"port"`
		URL            *string `json:"url"`
		PackageVersion *string `json:"package_version"`
	}{plain: plain(r)}
	if r.PID != 0 {
		out.PID, out.Port, out.URL, out.PackageVersion = &r.PID, &r.Port, &r.URL, &r.PackageVersion
	}
	return json.Marshal(out)
}

// StopResult is `spec-kitty sync stop --json`: whether a daemon was
// stopped, which one (null when none was recorded), and what was found on
// the way (a record naming a dead pid, an unusable state file).
type StopResult struct {
	Stopped bool     `json:"stopped"`
	PID     *int     `json:"pid"`
	Port    *int     `json:"port"`
	Notes   []string `json:"notes"`
}

// StatusResult is `spec-kitty sync status --json` (SPEC §12).
type StatusResult struct {
	Healthy         bool         `json:"healthy"`
	PID             *int         `json:"pid"`
	Port            *int         `json:"port"`
	URL             *string      `json:"url"`
	PackageVersion  *string      `json:"package_version"`
	ProtocolVersion *int         `json:"protocol_version"`
	Sync            UploadStatus `json:"sync"`
	// LogPath is the daemon log of this scope (`spec-kitty sync logs`).
	LogPath string `json:"log_path"`
	// LogRotationError is the healthy daemon's report that its log could
	// not be rotated; null while rotation works or no daemon answers.
	LogRotationError *string `json:"log_rotation_error"`
	// Unreadable names the runtime root or state file that could not be
	// read, and why; nil when both were readable (or absent).
	Unreadable *string  `json:"unreadable"`
	Notes      []string `json:"notes"`
}

// DoctorSchemaVersion is the schema_version of `auth doctor --json`.
const DoctorSchemaVersion = 2

// DoctorDaemon is the recorded singleton as the doctor sees it.
type DoctorDaemon struct {
	Active          bool    `json:"active"`
	PID             *int    `json:"pid"`
	Port            *int    `json:"port"`
	PackageVersion  *string `json:"package_version"`
	ProtocolVersion *int    `json:"protocol_version"`
}

// DoctorSession summarises the auth session.
type DoctorSession struct {
	Present       bool    `json:"present"`
	ServerURL     *string `json:"server_url"`
	AuthPrincipal *string `json:"auth_principal"`
	AuthTeam      *string `json:"auth_team"`
}

// Remediation names the command that fixes a finding.
type Remediation struct {
	Command string `json:"command"`
}

// Finding is one thing the doctor wants an operator to know.
type Finding struct {
	ID          string      `json:"id"`
	Severity    string      `json:"severity"`
	Summary     string      `json:"summary"`
	Remediation Remediation `json:"remediation"`
}

// DoctorReport is `spec-kitty auth doctor --json` (SPEC §12).
type DoctorReport struct {
	SchemaVersion  int              `json:"schema_version"`
	GeneratedAt    string           `json:"generated_at"`
	AuthRoot       string           `json:"auth_root"`
	Session        DoctorSession    `json:"session"`
	Daemon         DoctorDaemon     `json:"daemon"`
	Orphans        []IdentityRecord `json:"orphans"`
	OtherListeners []IdentityRecord `json:"other_listeners"`
	Findings       []Finding        `json:"findings"`
	ResetResult    *ResetResult     `json:"reset_result,omitempty"`
	Platform       Platform         `json:"platform"`
}

// Platform says where the scan's evidence came from (SPEC §8 Platforms).
type Platform struct {
	// OS is runtime.GOOS.
	OS string `json:"os"`
	// ListenerSource is the source that named the pid behind each port:
	// sock_diag, procfs, lsof, iphlpapi or none.
	ListenerSource string `json:"listener_source"`
}
