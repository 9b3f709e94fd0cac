package doctor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
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
	if f := ids["session_unreadable"]; f.Severity != "error" || f.Remediation.Command != CmdLogin {
		t.Errorf("session finding %+v", f)
	}
	if f := ids["state_file_unusable"]; f.Severity != "warning" || f.Remediation.Command != CmdSyncStart || !strings.Contains(f.Summary, "2 lines") {
		t.Errorf("state file finding %+v", f)
	}
}
