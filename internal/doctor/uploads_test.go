package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

func TestUploadsFailing(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 30, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { v := now.Add(-ago); return &v }
	refused := "cannot reach https://sync.example.com: connection refused (is the server running?)"
	expired := "server answered 401 and refreshing the session failed: invalid_grant"
	for _, tc := range []struct {
		name    string
		st      api.UploadStatus
		want    bool
		command string
	}{
		{"healthy", api.UploadStatus{QueueDepth: 3}, false, ""},
		{"one failure just now", api.UploadStatus{ConsecutiveFailures: 1, FailingSince: at(time.Second), LastError: &refused, QueueDepth: 3}, false, ""},
		{"four failures in a minute", api.UploadStatus{ConsecutiveFailures: 4, FailingSince: at(time.Minute), LastError: &refused, QueueDepth: 3}, false, ""},
		{"five failures in a row", api.UploadStatus{ConsecutiveFailures: 5, FailingSince: at(20 * time.Second), LastError: &refused, QueueDepth: 3}, true, CmdSyncLogs},
		{"two failures over ten minutes", api.UploadStatus{ConsecutiveFailures: 2, FailingSince: at(10 * time.Minute), LastError: &refused, QueueDepth: 1}, true, CmdSyncLogs},
		{"failing but nothing queued", api.UploadStatus{ConsecutiveFailures: 9, FailingSince: at(time.Hour), LastError: &refused}, false, ""},
		{"only parked events", api.UploadStatus{ConsecutiveFailures: 9, FailingSince: at(time.Hour), LastError: &refused, Parked: 2}, false, ""},
		{"login refused", api.UploadStatus{ConsecutiveFailures: 5, FailingSince: at(time.Minute), LastError: &expired, QueueDepth: 1}, true, CmdLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := UploadsFailing(tc.st, now)
			if ok != tc.want {
				t.Fatalf("UploadsFailing = %v, want %v (%+v)", ok, tc.want, f)
			}
			if !ok {
				return
			}
			if f.ID != "uploads_failing" || f.Severity != "warning" || f.Remediation.Command != tc.command {
				t.Errorf("finding %+v, want uploads_failing, warning, next %q", f, tc.command)
			}
			since := FormatTime(*tc.st.FailingSince)
			if !strings.Contains(f.Summary, "since "+since) || !strings.Contains(f.Summary, *tc.st.LastError) || strings.Contains(f.Summary, "\n") {
				t.Errorf("summary %q: want since %s and the error, on one line", f.Summary, since)
			}
		})
	}
}

func TestUploadFailureLine(t *testing.T) {
	since := time.Date(2026, 12, 4, 16, 2, 5, 0, time.UTC)
	msg := "cannot reach http://127.0.0.1:1: connection refused (is the server running?)"
	got := UploadFailureLine(api.UploadStatus{ConsecutiveFailures: 1, FailingSince: &since, LastError: &msg})
	want := "uploads failing since " + FormatTime(since) + " (1 attempt): " + msg
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := UploadFailureLine(api.UploadStatus{QueueDepth: 2}); got != "" {
		t.Errorf("healthy uploads: %q, want nothing", got)
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 daemons need"}, {1, "1 daemon needs"}, {2, "2 daemons need"}} {
		if got := PluralVerb(tc.n, "daemon", "needs", "need"); got != tc.want {
			t.Errorf("PluralVerb(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
