package doctor

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// These tests drive Reset and Report with a fake scan. Every candidate's
// process identity is unknown (pid 0 or no start time), so the engine's
// pre-signal check fails before it reads /proc or dials a port: the tests
// do no process or network I/O and cannot signal anything.

func ptr[T any](v T) *T { return &v }

func rec(port int, class, reason string) api.IdentityRecord {
	r := api.IdentityRecord{Port: port, PID: ptr(5000 + port), CleanupClass: class, Reason: reason, IdentitySource: api.SourceHealth}
	if class != api.ClassSafeAuto {
		r.SkipReason = ptr(reason)
	}
	return r
}

// fakeScan returns a scan of the given records; evidence carries each
// record's pid but no start time.
func fakeScan(t *testing.T, recs ...api.IdentityRecord) *Scan {
	t.Helper()
	s := &Scan{
		Layout:    paths.Layout{Root: t.TempDir()},
		Records:   recs,
		evidence:  map[int]classify.Evidence{},
		instances: map[int]api.InstanceRecord{},
	}
	for _, r := range recs {
		ev := classify.Evidence{Port: r.Port}
		if r.PID != nil {
			ev.PID = *r.PID
		}
		s.evidence[r.Port] = ev
	}
	return s
}

func mixedScan(t *testing.T) *Scan {
	return fakeScan(t,
		rec(9400, api.ClassNeverTouch, api.SkipRecordedSingleton),
		rec(9401, api.ClassSafeAuto, api.StaleVersion),
		rec(9402, api.ClassSafeAuto, api.DuplicateSameVersion),
		rec(9403, api.ClassOperatorRequired, api.SkipPreMarker),
		rec(9404, api.ClassOperatorRequired, api.SkipCrossRoot),
		rec(9405, api.ClassOperatorRequired, api.SkipUnresponsive),
		rec(9406, api.ClassNeverTouch, api.SkipThirdParty),
		rec(9407, api.ClassNeverTouch, api.SkipDashboardFamily),
	)
}

// ports lists the ports of a result by list.
func ports(res api.ResetResult) (swept, skipped, failed []int) {
	for _, s := range res.Swept {
		swept = append(swept, s.Port)
	}
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Port)
	}
	for _, f := range res.Failed {
		failed = append(failed, f.Port)
	}
	return swept, skipped, failed
}

func TestReset_AS4_Accounting(t *testing.T) {
	tests := []struct {
		name    string
		opts    ResetOptions
		asked   bool
		skipped []int
		failed  []int
	}{
		{"safe_auto only", ResetOptions{}, false, []int{9403, 9404, 9405}, []int{9401, 9402}},
		{"force", ResetOptions{Force: true}, false, nil, []int{9401, 9402, 9403, 9404, 9405}},
		{"confirmed", ResetOptions{Confirm: func([]api.IdentityRecord) bool { return true }}, true, nil, []int{9401, 9402, 9403, 9404, 9405}},
		{"declined", ResetOptions{Confirm: func([]api.IdentityRecord) bool { return false }}, true, []int{9403, 9404, 9405}, []int{9401, 9402}},
		{"force is not asked", ResetOptions{Force: true, Confirm: func([]api.IdentityRecord) bool { panic("asked") }}, false, nil, []int{9401, 9402, 9403, 9404, 9405}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mixedScan(t)
			var asked [][]int
			if c := tt.opts.Confirm; c != nil && !tt.opts.Force {
				tt.opts.Confirm = func(ops []api.IdentityRecord) bool {
					var p []int
					for _, r := range ops {
						p = append(p, r.Port)
					}
					asked = append(asked, p)
					return c(ops)
				}
			}
			res := Reset(context.Background(), s, tt.opts)
			swept, skipped, failed := ports(res)
			slices.Sort(failed)
			if len(swept) != 0 || !slices.Equal(skipped, tt.skipped) || !slices.Equal(failed, tt.failed) {
				t.Errorf("swept %v skipped %v failed %v, want skipped %v failed %v", swept, skipped, failed, tt.skipped, tt.failed)
			}
			if tt.asked != (len(asked) == 1) || (tt.asked && !slices.Equal(asked[0], []int{9403, 9404, 9405})) {
				t.Errorf("asked %v, want asked=%v once about the operator_required ones", asked, tt.asked)
			}
			for _, sk := range res.Skipped {
				want := s.evidence[sk.Port].PID
				if sk.CleanupClass != api.ClassOperatorRequired || sk.PID == nil || *sk.PID != want || sk.SkipReason == "" {
					t.Errorf("skipped entry %+v does not carry its record", sk)
				}
			}
			for _, f := range res.Failed {
				if !strings.Contains(f.FailureReason, "unknown") || f.CleanupClass == api.ClassNeverTouch {
					t.Errorf("failed entry %+v", f)
				}
			}
			if _, err := os.Stat(s.Layout.Journal()); !os.IsNotExist(err) {
				t.Errorf("a journal was written: %v", err)
			}
		})
	}
}

func TestReset_NoOperatorRequiredAsksNothing(t *testing.T) {
	s := fakeScan(t, rec(9401, api.ClassSafeAuto, api.StaleVersion), rec(9406, api.ClassNeverTouch, api.SkipThirdParty))
	res := Reset(context.Background(), s, ResetOptions{Confirm: func([]api.IdentityRecord) bool {
		t.Error("asked with nothing to ask about")
		return true
	}})
	if len(res.Failed) != 1 || len(res.Skipped) != 0 || len(res.Swept) != 0 {
		t.Errorf("result %+v", res)
	}
}

// TestReset_SingletonPIDIsNeverACandidate: a listener on another port whose
// owner is the recorded singleton's pid is never_touch, so no reset acts on
// it, even with --force.
func TestReset_SingletonPIDIsNeverACandidate(t *testing.T) {
	s := fakeScan(t)
	s.Singleton = &statefile.Record{PID: 5400, Port: 9400}
	s.singletonHealthy = true
	pid := 5400
	other := rec(9410, api.ClassSafeAuto, api.StaleVersion)
	other.PID = &pid
	got := s.protectSingleton(other)
	if got.CleanupClass != api.ClassNeverTouch || got.SkipReason == nil || *got.SkipReason != api.SkipRecordedSingleton {
		t.Fatalf("record = %+v, want never_touch is_recorded_singleton", got)
	}
	s.Records = []api.IdentityRecord{got}
	res := Reset(context.Background(), s, ResetOptions{Force: true})
	if len(res.Swept)+len(res.Skipped)+len(res.Failed) != 0 {
		t.Fatalf("result %+v, want the singleton's pid in no list", res)
	}
	unknown := rec(9400, api.ClassOperatorRequired, api.SkipMissingPID)
	unknown.PID = nil
	if got := s.protectSingleton(unknown); got.CleanupClass != api.ClassNeverTouch {
		t.Fatalf("the recorded port with an unknown pid was not protected: %+v", got)
	}
	stranger := 5401
	other.PID = &stranger
	if got := s.protectSingleton(other); got.CleanupClass != api.ClassSafeAuto {
		t.Fatalf("another pid was protected: %+v", got)
	}
}

func TestReset_EmptyListsMarshalAsArrays(t *testing.T) {
	res := Reset(context.Background(), fakeScan(t), ResetOptions{Force: true})
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"swept":[],"skipped":[],"failed":[]}` {
		t.Errorf("empty reset_result = %s", b)
	}
}

// TestReset_UnhealthySingletonIsRepairable: a recorded daemon that did not
// answer health is not protected (SPEC §7 row 5), doctor names it with a
// warning whose remediation is --reset --force, and the reset's pre-step
// protection does not shield it either.
func TestReset_UnhealthySingletonIsRepairable(t *testing.T) {
	wedged := rec(9400, api.ClassOperatorRequired, api.SkipUnresponsive)
	s := fakeScan(t, wedged)
	s.Singleton = &statefile.Record{URL: "http://127.0.0.1:9400", PID: 14400, Port: 9400, Token: "t"}
	if err := statefile.Write(s.Layout.StateFile(), *s.Singleton); err != nil {
		t.Fatal(err)
	}
	if got := s.protectSingleton(wedged); got.CleanupClass != api.ClassOperatorRequired {
		t.Fatalf("unhealthy recorded daemon protected: %+v", got)
	}
	if s.recorded(14400) {
		t.Error("the pre-step check protects the unhealthy recorded daemon")
	}
	rep := Report(context.Background(), s)
	var found bool
	for _, f := range rep.Findings {
		if f.ID == "recorded_daemon_unhealthy" {
			found = f.Severity == "warning" && f.Remediation.Command == CmdResetForce && strings.Contains(f.Summary, "recorded daemon not healthy")
		}
	}
	if !found {
		t.Errorf("findings %+v, want a warning \"recorded daemon not healthy\" naming %s", rep.Findings, CmdResetForce)
	}
	// A state file written since the scan names a new daemon: protected.
	s.Singleton = &statefile.Record{URL: "http://127.0.0.1:9401", PID: 14400, Port: 9401, Token: "t"}
	if !s.recorded(14400) {
		t.Error("a daemon recorded since the scan is not protected")
	}
}

// TestReset_ApprovedActsOnlyOnWhatWasShown: after a y/N answer given before
// the lock, only the operator_required daemons approved by (pid, start time)
// are acted on; one that appeared since, or whose identity changed, is
// skipped with its reason (SPEC §8).
func TestReset_ApprovedActsOnlyOnWhatWasShown(t *testing.T) {
	s := mixedScan(t)
	shown := s.Shown(rec(9403, api.ClassOperatorRequired, api.SkipPreMarker))
	res := Reset(context.Background(), s, ResetOptions{
		Approved: map[Shown]bool{shown: true},
		Confirm:  func([]api.IdentityRecord) bool { t.Error("asked again under the lock"); return true },
	})
	swept, skipped, failed := ports(res)
	if len(swept) != 0 || !slices.Equal(skipped, []int{9404, 9405}) || !slices.Equal(failed, []int{9401, 9402, 9403}) {
		t.Errorf("swept %v skipped %v failed %v; want 9403 acted on (failed: identity unknown), 9404 and 9405 skipped", swept, skipped, failed)
	}
	if n := s.Plan(ResetOptions{Approved: map[Shown]bool{shown: true}}); n != 3 {
		t.Errorf("Plan = %d, want the 2 safe_auto and the 1 approved", n)
	}
}

// TestReset_ApprovalOfAPIDlessDaemonCoversOnlyIt: every daemon whose pid
// the platform cannot name has the same (pid, start time), zero. A y given
// for one of them must not cover another that was not shown (one that
// appeared on another port between the question and the locked rescan): it
// stays skipped with its reason instead of landing in failed[].
func TestReset_ApprovalOfAPIDlessDaemonCoversOnlyIt(t *testing.T) {
	pidless := func(port int) api.IdentityRecord {
		r := rec(port, api.ClassOperatorRequired, api.SkipMissingPID)
		r.PID = nil
		return r
	}
	shownScan := fakeScan(t, pidless(9403))
	approved := map[Shown]bool{shownScan.Shown(shownScan.Records[0]): true}
	s := fakeScan(t, pidless(9403), pidless(9404))
	res := Reset(context.Background(), s, ResetOptions{Approved: approved})
	swept, skipped, failed := ports(res)
	if len(swept) != 0 || !slices.Equal(skipped, []int{9404}) || !slices.Equal(failed, []int{9403}) {
		t.Errorf("swept %v skipped %v failed %v; want 9403 acted on (failed: identity unknown) and 9404, never shown, skipped", swept, skipped, failed)
	}
	if n := s.Plan(ResetOptions{Approved: approved}); n != 1 {
		t.Errorf("Plan = %d, want only the one approved", n)
	}
}
