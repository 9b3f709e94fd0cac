package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"

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
	// Approved, when not nil, holds the operator_required daemons a person
	// agreed to stop before the scope lock was taken, by port and (pid,
	// start time): only those are acted on, so the answer covers exactly
	// what was shown (SPEC §8). Force overrides it.
	Approved map[Shown]bool
	// Progress is told of each candidate as it finishes.
	Progress func(port int, outcome string)
	// Step is told when each escalation step starts.
	Step func(port int, msg string)
}

// OperatorRequired are the scan's operator_required records: the ones a
// reset without --force asks about.
func (s *Scan) OperatorRequired() []api.IdentityRecord {
	return s.filter(func(r api.IdentityRecord) bool { return r.CleanupClass == api.ClassOperatorRequired })
}

// Identity is the (pid, start time) the scan read for a record.
func (s *Scan) Identity(r api.IdentityRecord) procinfo.Identity {
	ev := s.evidence[r.Port]
	return procinfo.Identity{PID: ev.PID, StartTime: ev.StartTime}
}

// Shown names one daemon as a person was asked about it: its port and the
// (pid, start time) the scan read. The port is part of it because every
// daemon whose pid the platform cannot name has the same zero identity: a
// y for one of them must not cover another.
type Shown struct {
	Port     int
	Identity procinfo.Identity
}

// Shown is how an answer about r is kept until the rescan under the lock.
func (s *Scan) Shown(r api.IdentityRecord) Shown {
	return Shown{Port: r.Port, Identity: s.Identity(r)}
}

// Plan counts the candidates a reset with opts would act on, for the
// header a person sees before it starts.
func (s *Scan) Plan(opts ResetOptions) int {
	n := 0
	for _, r := range s.Orphans() {
		if r.CleanupClass == api.ClassSafeAuto || opts.Force || (opts.Approved != nil && opts.Approved[s.Shown(r)]) {
			n++
		}
	}
	return n
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
	include := opts.Force || (len(ops) > 0 && opts.Approved == nil && opts.Confirm != nil && opts.Confirm(ops))
	for _, r := range ops {
		if include || (opts.Approved != nil && opts.Approved[s.Shown(r)]) {
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
		Step:      opts.Step,
		Protected: s.recorded,
	}
	for _, o := range eng.Clean(ctx, cands) {
		switch {
		case o.Swept != nil:
			res.Swept = append(res.Swept, *o.Swept)
		case o.Skipped != nil:
			res.Skipped = append(res.Skipped, *o.Skipped)
		default:
			res.Failed = append(res.Failed, *o.Failed)
		}
	}
	s.forgetSwept(res)
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
			switch {
			case o.Swept != nil:
				swept = append(swept, *o.Swept)
			case o.Failed != nil:
				failed = append(failed, o.Failed.FailureReason)
			}
		}
		if len(failed) > 0 {
			return swept, &ReapError{Failures: failed}
		}
		return swept, nil
	}
}

// recorded reports whether the state file names pid right now as a daemon
// to protect: any record written since the scan, and the scanned one only
// when it answered health (SPEC §7 row 5: a recorded daemon that does not
// answer is repairable).
func (s *Scan) recorded(pid int) bool {
	rec, err := statefile.Read(s.Layout.StateFile())
	if err != nil || rec.PID != pid {
		return false
	}
	return s.Singleton == nil || s.singletonHealthy || *s.Singleton != rec
}

// forgetSwept clears a state file that still names a recorded daemon the
// reset has just stopped, so the next `sync start` spawns a fresh one.
func (s *Scan) forgetSwept(res api.ResetResult) {
	if s.Singleton == nil || s.singletonHealthy {
		return
	}
	for _, sw := range res.Swept {
		if sw.PID == s.Singleton.PID {
			if rec, err := statefile.Read(s.Layout.StateFile()); err == nil && rec == *s.Singleton {
				_ = statefile.Remove(s.Layout.StateFile())
			}
		}
	}
}

// pruneInstances removes per-instance records that name no daemon any more
// (malformed, a dead pid, a pid now another process), so they stop pointing
// the reuse path at a scan. A record of a live daemon is kept.
func (s *Scan) pruneInstances() {
	entries, err := os.ReadDir(s.Layout.InstanceDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasSuffix(name, ".json") {
			path := filepath.Join(s.Layout.InstanceDir(), name)
			if lifecycle.InstanceState(path, name) == lifecycle.InstanceGone {
				_ = paths.RemoveIfExists(path)
			}
		}
	}
}

// ReapError reports safe_auto candidates the startup reaper could not stop.
type ReapError struct{ Failures []string }

func (e *ReapError) Error() string {
	msg := "could not stop " + Plural(len(e.Failures), "stale daemon") + ": " + e.Failures[0]
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
