package doctor

import (
	"context"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// ResetOptions choose what a reset may act on.
type ResetOptions struct {
	// Force includes operator_required candidates.
	Force bool
	// Confirm, when set and Force is not, is asked once about the
	// operator_required candidates (an interactive y/N prompt).
	Confirm func(ops []api.IdentityRecord) bool
	// Actor names the entrypoint in the journal.
	Actor string
	// Progress is told of each candidate as it finishes.
	Progress func(port int, outcome string)
}

// Reset cleans the scan's candidates: safe_auto always, operator_required
// only when forced or confirmed. Every candidate ends in exactly one of
// swept, skipped or failed; never_touch records are not candidates.
func Reset(ctx context.Context, s *Scan, opts ResetOptions) api.ResetResult {
	res := api.NewResetResult()
	var act, ops []api.IdentityRecord
	for _, r := range s.Orphans() {
		switch {
		case r.CleanupClass == api.ClassSafeAuto:
			act = append(act, r)
		default:
			ops = append(ops, r)
		}
	}
	include := opts.Force || (len(ops) > 0 && opts.Confirm != nil && opts.Confirm(ops))
	for _, r := range ops {
		if include {
			act = append(act, r)
			continue
		}
		res.Skipped = append(res.Skipped, api.SkippedEntry{
			PID: r.PID, Port: r.Port, CleanupClass: r.CleanupClass, SkipReason: deref(r.SkipReason),
		})
	}
	cands := make([]cleanup.Candidate, 0, len(act))
	for _, r := range act {
		cands = append(cands, s.candidate(r))
	}
	eng := &cleanup.Engine{
		Family:    api.FamilySync,
		Actor:     opts.Actor,
		Journal:   cleanup.NewJournal(s.Layout.Journal()),
		Progress:  opts.Progress,
		Protected: s.recorded,
	}
	for _, o := range eng.Clean(ctx, cands) {
		if o.Swept != nil {
			res.Swept = append(res.Swept, *o.Swept)
		} else {
			res.Failed = append(res.Failed, *o.Failed)
		}
	}
	return res
}

// candidate turns a record into a cleanup candidate: the scan's (pid, start
// time) identity and, when this scope holds the daemon's own per-instance
// record, the token for a graceful shutdown request.
func (s *Scan) candidate(r api.IdentityRecord) cleanup.Candidate {
	ev := s.evidence[r.Port]
	c := cleanup.Candidate{Record: r, Identity: procinfo.Identity{PID: ev.PID, StartTime: ev.StartTime}}
	inst, ok := s.instances[r.Port]
	switch {
	case !ok:
	case ev.PID != 0 && inst.PID == ev.PID:
		c.Token = inst.Token
	case ev.PID == 0 && r.IdentitySource == api.SourceTokenProof:
		// The listener proved it holds this token; the engine re-proves
		// before the authenticated shutdown and never signals it.
		c.Token, c.ReportedPID = inst.Token, inst.PID
	}
	return c
}

// StartupReaper is ensure-running's step 3: scan, classify, and clean every
// safe_auto candidate — nothing else.
func StartupReaper(version, exe string) lifecycle.Reaper {
	return func(ctx context.Context, layout paths.Layout) ([]api.SweptEntry, error) {
		s, err := ScanScope(ctx, layout, version, exe)
		if err != nil {
			return nil, err
		}
		s.pruneInstances()
		var cands []cleanup.Candidate
		for _, r := range s.Records {
			if r.CleanupClass == api.ClassSafeAuto {
				cands = append(cands, s.candidate(r))
			}
		}
		if len(cands) == 0 {
			return nil, nil
		}
		eng := &cleanup.Engine{
			Family:    api.FamilySync,
			Actor:     cleanup.ActorStartupReaper,
			Journal:   cleanup.NewJournal(layout.Journal()),
			Protected: s.recorded,
		}
		var swept []api.SweptEntry
		var failed []string
		for _, o := range eng.Clean(ctx, cands) {
			if o.Swept != nil {
				swept = append(swept, *o.Swept)
			} else {
				failed = append(failed, o.Failed.FailureReason)
			}
		}
		if len(failed) > 0 {
			return swept, &ReapError{Failures: failed}
		}
		return swept, nil
	}
}

// recorded reports whether the state file names pid right now.
func (s *Scan) recorded(pid int) bool {
	rec, err := statefile.Read(s.Layout.StateFile())
	return err == nil && rec.PID == pid
}

// pruneInstances removes per-instance records of daemons that are gone
// (killed without a clean exit), so they stop pointing the reuse path at a
// scan. A record of a live pid is kept, whatever it says.
func (s *Scan) pruneInstances() {
	for port, rec := range s.instances {
		if !procinfo.Alive(rec.PID) {
			_ = paths.RemoveIfExists(s.Layout.InstanceFile(port))
		}
	}
}

// ReapError reports safe_auto candidates the startup reaper could not stop.
type ReapError struct{ Failures []string }

func (e *ReapError) Error() string {
	msg := "could not stop " + itoa(len(e.Failures)) + " stale daemon(s): " + e.Failures[0]
	if len(e.Failures) > 1 {
		msg += " (and more; run spec-kitty auth doctor)"
	}
	return msg
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
