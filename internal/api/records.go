package api

// Cleanup classes (SPEC §7).
const (
	ClassSafeAuto         = "safe_auto"
	ClassOperatorRequired = "operator_required"
	ClassNeverTouch       = "never_touch"
)

// Skip reasons (SPEC §7).
const (
	SkipOutOfRange         = "out_of_range"
	SkipDashboardFamily    = "dashboard_family"
	SkipThirdParty         = "third_party"
	SkipNotSpecKitty       = "not_spec_kitty"
	SkipRecordedSingleton  = "is_recorded_singleton"
	SkipMissingPID         = "missing_pid"
	SkipPreMarker          = "pre_marker"
	SkipCrossRoot          = "cross_root"
	SkipUnresponsive       = "unresponsive"
	SkipPIDPortMismatch    = "pid_port_mismatch"
	SkipNotForceful        = "operator_required_without_force"
	SkipSyncFamily         = "sync_family"
	SkipDashboardNotOrphan = "dashboard_not_orphaned"
	// SkipExited: the candidate exited on its own before anything was sent.
	SkipExited = "exited"
)

// Stale evidence for a safe_auto candidate (the record's reason).
const (
	StaleVersion         = "stale_version"
	StaleExecutable      = "stale_executable"
	DuplicateSameVersion = "duplicate_same_version"
)

// Identity sources (SPEC §6).
const (
	SourceHealth  = "health_self_report"
	SourceMarker  = "cmdline_marker"
	SourceOwner   = "owner_record"
	SourceNone    = "none"
	SourceUnknown = SourceNone
	// SourceTokenProof is a listener whose pid is unknown but which proved
	// it holds the token of this scope's per-instance record (SPEC §7).
	SourceTokenProof = "token_proof"
)

// Cleanup paths: the escalation step that worked (SPEC §8).
const (
	PathHTTPShutdown = "http_shutdown"
	PathTerminate    = "terminate"
	PathKill         = "kill"
)

// IdentityRecord is what a scan knows about one listener (SPEC §6). Every key
// is always present in JSON; unknown values are null.
type IdentityRecord struct {
	DaemonFamily              *string `json:"daemon_family"`
	PID                       *int    `json:"pid"`
	Port                      int     `json:"port"`
	ProtocolVersion           *int    `json:"protocol_version"`
	PackageVersion            *string `json:"package_version"`
	SingletonScopeID          *string `json:"singleton_scope_id"`
	DaemonRoot                *string `json:"daemon_root"`
	QueueDBPath               *string `json:"queue_db_path"`
	AuthScope                 *string `json:"auth_scope"`
	ServerURL                 *string `json:"server_url"`
	OwnerPresent              bool    `json:"owner_present"`
	IdentitySource            string  `json:"identity_source"`
	ExecutableSummary         *string `json:"executable_summary"`
	SpawnShapeOK              bool    `json:"spawn_shape_ok"`
	SelfReportMatchesListener *bool   `json:"self_report_matches_listener"`
	IsRecordedSingleton       bool    `json:"is_recorded_singleton"`
	CleanupClass              string  `json:"cleanup_class"`
	SkipReason                *string `json:"skip_reason"`
	// Reason says why: the stale evidence of a safe_auto candidate
	// (stale_version, stale_executable, duplicate_same_version) or the skip
	// reason of any other.
	Reason string `json:"reason"`
}

// SweptEntry is a candidate that a cleanup stopped.
type SweptEntry struct {
	PID             int     `json:"pid"`
	Port            int     `json:"port"`
	PackageVersion  *string `json:"package_version"`
	ProtocolVersion *int    `json:"protocol_version"`
	CleanupClass    string  `json:"cleanup_class"`
	CleanupPath     string  `json:"cleanup_path"`
	Reason          string  `json:"reason"`
}

// SkippedEntry is a candidate that a cleanup deliberately left alone.
type SkippedEntry struct {
	PID          *int   `json:"pid"`
	Port         int    `json:"port"`
	CleanupClass string `json:"cleanup_class"`
	SkipReason   string `json:"skip_reason"`
}

// FailedEntry is a candidate that a cleanup tried and could not stop, or
// whose pre-signal check failed so nothing was sent.
type FailedEntry struct {
	PID           *int   `json:"pid"`
	Port          int    `json:"port"`
	CleanupClass  string `json:"cleanup_class"`
	FailureReason string `json:"failure_reason"`
}

// ResetResult accounts for every candidate of one cleanup (SPEC §8).
type ResetResult struct {
	Swept   []SweptEntry   `json:"swept"`
	Skipped []SkippedEntry `json:"skipped"`
	Failed  []FailedEntry  `json:"failed"`
}

// NewResetResult returns a result whose lists marshal as [] rather than null.
func NewResetResult() ResetResult {
	return ResetResult{Swept: []SweptEntry{}, Skipped: []SkippedEntry{}, Failed: []FailedEntry{}}
}

// JournalEntry is one line of cleanup-journal.jsonl.
type JournalEntry struct {
	Time    string `json:"time"`
	Actor   string `json:"actor"`
	Family  string `json:"family"`
	PID     int    `json:"pid"`
	Port    int    `json:"port"`
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
}
