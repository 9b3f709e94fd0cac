package classify

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// facts is the evidence as the rows read it, derived once per listener.
type facts struct {
	ev    Evidence
	scope Scope
	// shape is the zero Shape when argv is unreadable: an argv nobody could
	// read proves nothing, in either direction.
	shape         Shape
	dashboardArgv bool
	// legacyHealth is a Python daemon's payload: it carries a "token" key
	// and no "daemon_family".
	legacyHealth bool
	// skHealth is Spec Kitty sync-family health: daemon_family "sync" or
	// the legacy payload.
	skHealth bool
}

func newFacts(ev Evidence, scope Scope) *facts {
	f := &facts{ev: ev, scope: scope}
	if ev.ArgvReadable {
		f.shape = SpawnShape(ev.Argv)
		f.dashboardArgv = DashboardShape(ev.Argv)
	}
	f.legacyHealth = isLegacyHealth(ev)
	f.skHealth = f.legacyHealth || (ev.Health != nil && ev.Health.DaemonFamily == api.FamilySync)
	return f
}

// isLegacyHealth reports whether the answer has the Python payload's shape.
// A payload whose typed decode failed still counts when its keys say so: it
// is Spec Kitty evidence, just not a live answer (row 9 then applies).
func isLegacyHealth(ev Evidence) bool {
	keys := ev.HealthRawFields
	hasStatus := ev.Health != nil || slices.Contains(keys, "status")
	return hasStatus && slices.Contains(keys, "token") && !slices.Contains(keys, "daemon_family")
}

// row is one line of the SPEC §7 table. skip is empty for the last row.
type row struct {
	id    int
	match func(*facts) bool
	class string
	skip  func(*facts) string
}

// table is SPEC §7, first match wins. Order is the safety argument: every
// reason to leave a process alone is checked before any reason to act.
var table = []row{
	{1, outOfRange, api.ClassNeverTouch, outOfRangeReason},
	{2, otherFamily, api.ClassNeverTouch, fixed(api.SkipDashboardFamily)},
	{3, noSpecKittyEvidence, api.ClassNeverTouch, thirdPartyReason},
	{4, readableButNotSpawnShaped, api.ClassNeverTouch, fixed(api.SkipThirdParty)},
	{5, isRecordedSingleton, api.ClassNeverTouch, fixed(api.SkipRecordedSingleton)},
	{6, tokenProven, api.ClassSafeAuto, nil},
	{6, pidUnknown, api.ClassOperatorRequired, fixed(api.SkipMissingPID)},
	{7, noMarker, api.ClassOperatorRequired, fixed(api.SkipPreMarker)},
	{8, otherScope, api.ClassOperatorRequired, fixed(api.SkipCrossRoot)},
	{9, noLiveHealth, api.ClassOperatorRequired, fixed(api.SkipUnresponsive)},
	{10, ownerMismatch, api.ClassOperatorRequired, fixed(api.SkipPIDPortMismatch)},
	{11, always, api.ClassSafeAuto, nil},
}

// decide runs the table. Row 6 has two lines: the token-proven listener
// (safe_auto) and every other pid-unknown one (missing_pid). It returns the matching row's number so tests can
// prove every row is reachable.
func decide(f *facts) (id int, class, skip string) {
	for _, r := range table {
		if r.match(f) {
			if r.skip != nil {
				skip = r.skip(f)
			}
			return r.id, r.class, skip
		}
	}
	panic("classify: the last row matches everything")
}

func classify(ev Evidence, scope Scope) api.IdentityRecord {
	f := newFacts(ev, scope)
	rec := record(f)
	_, rec.CleanupClass, rec.Reason = decide(f)
	if rec.CleanupClass == api.ClassSafeAuto {
		rec.Reason = staleReason(f)
	} else {
		rec.SkipReason = ptr(rec.Reason)
	}
	return rec
}

func fixed(reason string) func(*facts) string { return func(*facts) string { return reason } }

func always(*facts) bool { return true }

func outOfRange(f *facts) bool { return !api.SyncRange.Contains(f.ev.Port) }

// outOfRangeReason names the dashboard family for its ports, so a report
// says why sync cleanup will never look there.
func outOfRangeReason(f *facts) string {
	if api.DashboardRange.Contains(f.ev.Port) {
		return api.SkipDashboardFamily
	}
	return api.SkipOutOfRange
}

// otherFamily also catches a dashboard argv with no health answer: its
// family is as certain from argv as from a self-report.
func otherFamily(f *facts) bool {
	h := f.ev.Health
	return (h != nil && h.DaemonFamily != "" && h.DaemonFamily != api.FamilySync) || f.dashboardArgv
}

func noSpecKittyEvidence(f *facts) bool { return !f.shape.OK && !f.skHealth }

func thirdPartyReason(f *facts) string {
	if f.ev.HTTPAnswered {
		return api.SkipThirdParty
	}
	return api.SkipNotSpecKitty
}

// readableButNotSpawnShaped: a health self-report alone is never kill
// authority, so a readable argv that is not ours overrides it.
func readableButNotSpawnShaped(f *facts) bool { return f.ev.ArgvReadable && !f.shape.OK }

// isRecordedSingleton: row 5 protects the recorded daemon only while it
// answers health; a hung one falls through (normally to unresponsive).
func isRecordedSingleton(f *facts) bool {
	return f.ev.PID > 0 && f.ev.PID == f.scope.SingletonPID && f.ev.Port == f.scope.SingletonPort &&
		!f.ev.Wedged && f.ev.Health != nil
}

func pidUnknown(f *facts) bool { return f.ev.PID <= 0 }

// tokenProven is row 6's exception: a listener whose pid the platform cannot
// name, but which proved that it holds the token of this scope's
// per-instance record for its port, is this scope's own daemon. It is
// cleaned by the authenticated shutdown only, never by a signal.
//
// The daemon's own report of the marker it was spawned with can only
// withhold this: a pre-marker daemon that holds the token stays
// operator_required, as the marker rule (row 7) would have it.
func tokenProven(f *facts) bool {
	h := f.ev.Health
	return f.ev.PID <= 0 && f.ev.TokenProven && h != nil && h.ScopeMarker != "" &&
		f.scope.ID != "" && SameScope(h.ScopeMarker, f.scope.ID, f.scope.FoldCase)
}

func noMarker(f *facts) bool { return !f.shape.HasMarker }

// otherScope compares cleaned paths so "/h/.spec-kitty/" is the same scope
// as "/h/.spec-kitty". An empty scope id authorises nothing.
func otherScope(f *facts) bool {
	return f.scope.ID == "" || !SameScope(f.shape.Marker, f.scope.ID, f.scope.FoldCase)
}

// SameScope reports whether two scope ids name the same runtime root:
// equal once cleaned, and case-insensitively where the platform's paths are
// (Windows).
func SameScope(a, b string, foldCase bool) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	if foldCase {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// noLiveHealth: a wedged port, an unparseable answer, or a payload that does
// not say it is a sync daemon all leave the process unconfirmed.
func noLiveHealth(f *facts) bool { return f.ev.Wedged || f.ev.Health == nil || !f.skHealth }

// ownerMismatch: an absent owner block (the legacy payload) is not a
// mismatch; a present one must name exactly this listener.
func ownerMismatch(f *facts) bool {
	o := f.ev.Health.Owner
	return o != nil && (o.PID != f.ev.PID || o.Port != f.ev.Port)
}

// staleReason names the evidence that a safe_auto daemon is stale: an older
// version beats a different executable beats a plain duplicate.
func staleReason(f *facts) string {
	if v := packageVersion(f.ev.Health); v != "" && f.scope.CurrentVersion != "" && v != f.scope.CurrentVersion {
		return api.StaleVersion
	}
	if exe := daemonExe(f); exe != "" && f.scope.CurrentExe != "" && filepath.Clean(exe) != filepath.Clean(f.scope.CurrentExe) {
		return api.StaleExecutable
	}
	return api.DuplicateSameVersion
}
