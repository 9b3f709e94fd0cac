package doctor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

func TestReport_FR004_SplitsAndFindings(t *testing.T) {
	s := mixedScan(t)
	rep := Report(context.Background(), s)
	if rep.SchemaVersion != 2 || rep.AuthRoot != s.Layout.Root || rep.ResetResult != nil {
		t.Errorf("header = %d %q %v", rep.SchemaVersion, rep.AuthRoot, rep.ResetResult)
	}
	var orphans, others []int
	for _, r := range rep.Orphans {
		orphans = append(orphans, r.Port)
	}
	for _, r := range rep.OtherListeners {
		others = append(others, r.Port)
	}
	if !slices.Equal(orphans, []int{9401, 9402, 9403, 9404, 9405}) || !slices.Equal(others, []int{9400, 9406, 9407}) {
		t.Errorf("orphans %v others %v", orphans, others)
	}
	if rep.Daemon.Active || rep.Daemon.PID != nil || rep.Session.Present {
		t.Errorf("daemon %+v session %+v, want none", rep.Daemon, rep.Session)
	}
	want := map[string]string{
		"no_session":                CmdLogin,
		"no_active_daemon":          CmdSyncStart,
		"stale_daemons":             CmdReset,
		"operator_required_daemons": CmdResetForce,
	}
	got := map[string]api.Finding{}
	for _, f := range rep.Findings {
		got[f.ID] = f
	}
	for id, cmd := range want {
		if got[id].Remediation.Command != cmd {
			t.Errorf("finding %s = %+v, want remediation %q", id, got[id], cmd)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %+v, want exactly %v", rep.Findings, want)
	}
	if s := got["stale_daemons"].Summary; !strings.HasPrefix(s, "2 ") {
		t.Errorf("stale summary %q does not count 2", s)
	}
	if s := got["operator_required_daemons"].Summary; !strings.Contains(s, "3 daemons need") ||
		!strings.Contains(s, "cross_root: 1, pre_marker: 1, unresponsive: 1") {
		t.Errorf("operator summary %q does not count by reason", s)
	}
}

func TestReport_EmptyScanMarshalsArrays(t *testing.T) {
	rep := Report(context.Background(), fakeScan(t))
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"orphans", "other_listeners", "findings"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("%s = %v, want an array", k, m[k])
		}
	}
	if _, ok := m["reset_result"]; ok {
		t.Error("reset_result present without --reset")
	}
	d := m["daemon"].(map[string]any)
	for _, k := range []string{"active", "pid", "port", "package_version", "protocol_version"} {
		if _, ok := d[k]; !ok {
			t.Errorf("daemon lacks %q", k)
		}
	}
}

func TestReport_UnusableSessionAndStateFile(t *testing.T) {
	s := fakeScan(t)
	s.Notes = []string{"unusable state file: 2 lines"}
	if err := os.MkdirAll(filepath.Dir(s.Layout.SessionFile()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Layout.SessionFile(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := Report(context.Background(), s)
	ids := map[string]api.Finding{}
	for _, f := range rep.Findings {
		ids[f.ID] = f
	}
	if f := ids["session_unreadable"]; f.Severity != "error" || f.Remediation.Command != "spec-kitty auth logout --force" || !strings.Contains(f.Summary, CmdLogin) {
		t.Errorf("session finding %+v", f)
	}
	if f := ids["state_file_unusable"]; f.Severity != "warning" || f.Remediation.Command != CmdSyncStart || !strings.Contains(f.Summary, "2 lines") {
		t.Errorf("state file finding %+v", f)
	}
}

func TestReport_LoginWithoutPrivateTeamspace(t *testing.T) {
	for _, tt := range []struct {
		name  string
		teams []session.Team
		want  bool
	}{
		{"shared team only", []session.Team{{ID: "shared", Name: "S", Role: "member"}}, true},
		{"no team", []session.Team{}, true},
		{"private teamspace", []session.Team{{ID: "shared", Name: "S"}, {ID: "mine", Name: "P", IsPrivateTeamspace: true}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeScan(t)
			now := time.Now().UTC()
			st := &session.Stored{
				UserID: "u", Email: "u@example.com", Name: "U", Teams: tt.teams, DefaultTeamID: "shared",
				AccessToken: "tok", RefreshToken: "ref", IssuedAt: now, AccessExpires: now.Add(time.Hour),
				Scope: "offline_access", StorageBackend: "file", LastUsedAt: now, AuthMethod: "authorization_code",
				ServerURL: "https://sk.example.com",
			}
			if err := session.Save(s.Layout.SessionFile(), st); err != nil {
				t.Fatal(err)
			}
			var got *api.Finding
			for _, f := range Report(context.Background(), s).Findings {
				if f.ID == "no_private_teamspace" {
					got = &f
				}
			}
			if (got != nil) != tt.want {
				t.Fatalf("no_private_teamspace finding: %+v, want present=%v", got, tt.want)
			}
			if got != nil && (got.Severity != "warning" || got.Remediation.Command != CmdRelogin ||
				!strings.Contains(got.Summary, "Private Teamspace") || !strings.Contains(got.Summary, "stay queued")) {
				t.Errorf("finding %+v", *got)
			}
		})
	}
}

// TestReport_FailedListenerSourceIsAFinding: a listener source that failed
// (on Windows an unreadable TCP table) reaches the report as a
// listener_source_fallback warning carrying the source's note, never as a
// quiet "no listeners".
func TestReport_FailedListenerSourceIsAFinding(t *testing.T) {
	s := fakeScan(t)
	note := "listener source iphlpapi failed (reading the TCP table: GetExtendedTcpTable(AF_INET6): Access is denied.); no pid was named, so only token-proven daemons of this scope can be cleaned"
	s.SourceNotes = []string{note}
	rep := Report(context.Background(), s)
	var found []api.Finding
	for _, f := range rep.Findings {
		if f.ID == "listener_source_fallback" {
			found = append(found, f)
		}
	}
	if len(found) != 1 || found[0].Severity != "warning" || found[0].Summary != note {
		t.Errorf("listener_source_fallback findings = %+v, want one warning with the note", found)
	}
}

// TestReport_UnreadableSessionInAnUntrustedFolder: logout --force could
// not help there (nothing is written to such a folder), so the finding
// names the folder's own fix.
func TestReport_UnreadableSessionInAnUntrustedFolder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("folder trust is the security descriptor on Windows")
	}
	s := fakeScan(t)
	dir := filepath.Dir(s.Layout.SessionFile())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Layout.SessionFile(), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	rep := Report(context.Background(), s)
	for _, f := range rep.Findings {
		if f.ID == "session_unreadable" {
			if f.Remediation.Command != "chmod 700 "+dir {
				t.Errorf("remediation %q, want the folder's fix", f.Remediation.Command)
			}
			return
		}
	}
	t.Fatalf("no session_unreadable finding: %+v", rep.Findings)
}
