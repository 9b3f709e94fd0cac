package classify

import (
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// record fills every identity field of SPEC §6 from the evidence; the class
// fields are left to the caller.
func record(f *facts) api.IdentityRecord {
	h := f.ev.Health
	var o *api.Owner
	if h != nil {
		o = h.Owner
	}
	rec := api.IdentityRecord{
		DaemonFamily:        family(f),
		Port:                f.ev.Port,
		PackageVersion:      nonEmpty(packageVersion(h)),
		SingletonScopeID:    nonEmpty(f.shape.Marker),
		DaemonRoot:          nonEmpty(f.shape.Marker),
		OwnerPresent:        f.ev.OwnerPresent,
		IdentitySource:      identitySource(f),
		ExecutableSummary:   executableSummary(f),
		SpawnShapeOK:        f.shape.OK,
		IsRecordedSingleton: isRecordedSingleton(f),
	}
	if f.ev.PID > 0 {
		rec.PID = ptr(f.ev.PID)
	}
	if h != nil {
		if h.ProtocolVersion != 0 {
			rec.ProtocolVersion = ptr(h.ProtocolVersion)
		}
		if h.SingletonScopeID != "" {
			rec.DaemonRoot = ptr(h.SingletonScopeID)
		}
	}
	if o != nil {
		rec.QueueDBPath = nonEmpty(o.QueueDBPath)
		rec.AuthScope = nonEmptyPtr(o.AuthScope)
		rec.ServerURL = nonEmptyPtr(o.ServerURL)
		// With the listener's pid unknown there is nothing to compare with.
		if f.ev.PID > 0 {
			rec.SelfReportMatchesListener = ptr(o.PID == f.ev.PID && o.Port == f.ev.Port)
		}
	}
	return rec
}

// family is the self-reported family; a legacy Python payload predates the
// field and is a sync daemon.
func family(f *facts) *string {
	switch {
	case f.ev.Health != nil && f.ev.Health.DaemonFamily != "":
		return ptr(f.ev.Health.DaemonFamily)
	case f.legacyHealth:
		return ptr(api.FamilySync)
	}
	return nil
}

// identitySource names the strongest evidence the record's identity came
// from. A health answer counts only when it identifies itself, so an
// arbitrary {"status":"ok"} is not a self-report.
func identitySource(f *facts) string {
	switch {
	case tokenProven(f):
		return api.SourceTokenProof
	case f.ev.Health != nil && (f.ev.Health.DaemonFamily != "" || f.legacyHealth):
		return api.SourceHealth
	case f.shape.HasMarker:
		return api.SourceMarker
	case f.ev.OwnerPresent:
		return api.SourceOwner
	}
	return api.SourceNone
}

// packageVersion is the payload's version, or its owner block's when the
// top level leaves it out.
func packageVersion(h *api.Health) string {
	switch {
	case h == nil:
		return ""
	case h.PackageVersion != "":
		return h.PackageVersion
	case h.Owner != nil:
		return h.Owner.PackageVersion
	}
	return ""
}

// daemonExe is the executable a daemon runs as, by the order of trust: the
// spawner's own record on argv, the OS's view, the self-report.
func daemonExe(f *facts) string {
	if f.shape.Exec != "" {
		return f.shape.Exec
	}
	if f.ev.Exe != "" {
		return f.ev.Exe
	}
	if h := f.ev.Health; h != nil && h.Owner != nil {
		return h.Owner.ExecutablePath
	}
	return ""
}

// executableSummary is a one-line description for people, such as
// "/usr/local/bin/spec-kitty (3.2.2)"; nil when nothing is known.
func executableSummary(f *facts) *string {
	exe := daemonExe(f)
	if exe == "" && f.ev.ArgvReadable && len(f.ev.Argv) > 0 {
		exe = f.ev.Argv[0]
	}
	var notes []string
	if v := packageVersion(f.ev.Health); v != "" {
		notes = append(notes, v)
	}
	if f.shape.Legacy {
		notes = append(notes, "legacy python")
	}
	switch {
	case exe == "" && len(notes) == 0:
		return nil
	case exe == "":
		exe = "unknown executable"
	}
	if len(notes) > 0 {
		exe += " (" + strings.Join(notes, ", ") + ")"
	}
	return &exe
}

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonEmptyPtr copies, so a record never aliases the health payload.
func nonEmptyPtr(s *string) *string {
	if s == nil {
		return nil
	}
	return nonEmpty(*s)
}
