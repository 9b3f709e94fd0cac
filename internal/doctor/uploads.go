package doctor

import (
	"fmt"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// When uploads count as failing (SPEC §10 *Upload health*): long enough
// that one lost connection or a server restart is not an alarm, short
// enough that an operator hears of an outage before the queue fills.
const (
	// UploadsFailingAfter is how long uploads may fail before the warning.
	UploadsFailingAfter = 10 * time.Minute
	// UploadsFailingAttempts is how many failed attempts in a row raise it
	// sooner.
	UploadsFailingAttempts = 5
)

// CmdSyncLogs shows the raw detail of an upload failure.
const CmdSyncLogs = "spec-kitty sync logs"

// UploadsFailing decides the `uploads_failing` warning: uploads have failed
// for UploadsFailingAfter, or UploadsFailingAttempts times in a row, and
// events are waiting. The finding names since when, the error in one line
// and the next step. A pure function of the daemon's upload status.
func UploadsFailing(st api.UploadStatus, now time.Time) (api.Finding, bool) {
	if st.QueueDepth == 0 || st.ConsecutiveFailures == 0 {
		return api.Finding{}, false
	}
	long := st.FailingSince != nil && now.Sub(*st.FailingSince) >= UploadsFailingAfter
	if !long && st.ConsecutiveFailures < UploadsFailingAttempts {
		return api.Finding{}, false
	}
	return UploadFailureFinding(st), true
}

// FindingUploadsFailing is the id of the upload failure finding.
const FindingUploadsFailing = "uploads_failing"

// UploadFailureFinding describes failing uploads as a finding: since when,
// how often, the error in one line, what is waiting and the next step.
func UploadFailureFinding(st api.UploadStatus) api.Finding {
	return api.Finding{
		ID:          FindingUploadsFailing,
		Severity:    "warning",
		Summary:     UploadFailureLine(st) + "; " + Plural(st.QueueDepth, "event") + " queued, kept until the server takes them",
		Remediation: api.Remediation{Command: UploadFailureCommand(st)},
	}
}

// UploadFailureLine says, in one line, since when and how often uploads
// failed and why: "failing since 2026-12-04 16:02:05 UTC (5 attempts):
// cannot reach https://…: connection refused". "" when uploads are not
// failing.
func UploadFailureLine(st api.UploadStatus) string {
	if st.ConsecutiveFailures == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("uploads failing")
	if st.FailingSince != nil {
		fmt.Fprintf(&b, " since %s", FormatTime(*st.FailingSince))
	}
	fmt.Fprintf(&b, " (%s)", Plural(st.ConsecutiveFailures, "attempt"))
	if st.LastError != nil {
		b.WriteString(": " + *st.LastError)
	}
	return b.String()
}

// UploadFailureCommand is the next step for an upload failure: a new login
// when the server refuses the session, else the log, which holds the raw
// detail of each failure (the server's address, the system error).
func UploadFailureCommand(st api.UploadStatus) string {
	if st.LastError != nil && (strings.Contains(*st.LastError, "HTTP 401") || strings.Contains(*st.LastError, "server answered 401")) {
		return CmdLogin
	}
	return CmdSyncLogs
}

// UploadFailureAdvice is what an operator can do about a failing upload,
// beyond the command: events are safe, and uploads resume by themselves.
const UploadFailureAdvice = "check that the server is up and reachable from here (spec-kitty auth status names it); events stay queued and are sent when it answers"

// FormatTime writes a moment for people: the local date, time and zone,
// so a reader in another zone, or reading tomorrow, is not misled.
func FormatTime(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// Plural writes "1 event", "2 events".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// PluralVerb writes "1 daemon needs", "2 daemons need".
func PluralVerb(n int, noun, one, many string) string {
	if n == 1 {
		return Plural(n, noun) + " " + one
	}
	return Plural(n, noun) + " " + many
}
