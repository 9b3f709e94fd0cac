// Package doctor scans one scope's sync range, classifies every listener,
// reports it (`auth doctor`) and cleans what the entrypoint may clean: the
// startup reaper and `auth doctor --reset [--force]` (SPEC §5, §8, §12).
package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/probe"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// Scan is one classified snapshot of the sync range for a scope.
type Scan struct {
	Layout paths.Layout
	Scope  classify.Scope
	// Singleton is the state file's record; nil when it names none.
	Singleton *statefile.Record
	// Records holds one identity record per listener, by port.
	Records []api.IdentityRecord
	// Notes are problems met on the way (an unusable state file).
	Notes []string
	// Platform names the OS and the listener source that named the pids.
	Platform api.Platform
	// SourceNotes explain a listener source that fell back or failed.
	SourceNotes []string

	evidence  map[int]classify.Evidence
	instances map[int]api.InstanceRecord
	// singletonHealthy: the recorded daemon answered health at its port
	// with its pid. Only then is it protected (SPEC §7 row 5).
	singletonHealthy bool
}

// ScanScope probes every port of the sync range and classifies what listens.
func ScanScope(ctx context.Context, layout paths.Layout, version, exe string) (*Scan, error) {
	s := &Scan{
		Layout:    layout,
		Scope:     classify.Scope{ID: layout.ScopeID(), CurrentVersion: version, CurrentExe: exe},
		evidence:  map[int]classify.Evidence{},
		instances: readInstances(layout),
	}
	rec, err := statefile.Read(layout.StateFile())
	switch {
	case err == nil:
		s.Singleton = &rec
		s.Scope.SingletonPID, s.Scope.SingletonPort = rec.PID, rec.Port
	case !errors.Is(err, os.ErrNotExist):
		s.Notes = append(s.Notes, lifecycle.UnusableStateNote(layout.StateFile(), err))
	}
	source, err := probe.SourceFromEnv()
	if err != nil {
		return nil, err
	}
	owner := readOwner(layout)
	var used probe.SourceReport
	evs, err := probe.Scan(ctx, probe.Options{Ports: api.SyncRange.Ports(), Hints: s.hints(owner), Source: source, Report: &used})
	if err != nil {
		return nil, fmt.Errorf("scanning ports %d-%d: %w", api.SyncRange.Lo, api.SyncRange.Hi-1, err)
	}
	s.Platform = api.Platform{OS: runtime.GOOS, ListenerSource: used.Name}
	s.SourceNotes = used.Notes
	s.Scope.FoldCase = foldCaseScopes
	proveTokens(ctx, evs, s.instances)
	for _, ev := range evs {
		if s.Singleton != nil && ev.Port == s.Singleton.Port && answersHealth(ev, s.Singleton.PID) {
			s.singletonHealthy = true
		}
	}
	for _, ev := range evs {
		if !api.SyncRange.Contains(ev.Port) {
			continue // no record is ever emitted for a port outside the range
		}
		ev.OwnerPresent = owner != nil && owner.Port == ev.Port && owner.PID == ev.PID && ev.PID != 0
		s.evidence[ev.Port] = ev
		s.Records = append(s.Records, s.protectSingleton(classify.Classify(ev, s.Scope)))
	}
	sort.Slice(s.Records, func(i, j int) bool { return s.Records[i].Port < s.Records[j].Port })
	return s, nil
}

// protectSingleton keeps the recorded singleton's process out of every
// cleanup even on a port the state file does not name: SPEC §7 row 5 matches
// pid and port, but a signal goes to a pid, and that pid is the live daemon.
//
// Where the OS cannot tell a listener's pid (another platform), the recorded
// port stands in for it: that only ever moves a record toward never_touch.
func (s *Scan) protectSingleton(r api.IdentityRecord) api.IdentityRecord {
	if s.Singleton == nil || !s.singletonHealthy || r.CleanupClass == api.ClassNeverTouch {
		return r
	}
	samePID := r.PID != nil && *r.PID == s.Singleton.PID
	unknownOnRecordedPort := r.PID == nil && r.Port == s.Singleton.Port
	if !samePID && !unknownOnRecordedPort {
		return r
	}
	reason := api.SkipRecordedSingleton
	r.CleanupClass, r.SkipReason, r.Reason, r.IsRecordedSingleton = api.ClassNeverTouch, &reason, reason, true
	return r
}

// answersHealth reports whether a listener gave a live health answer as
// the sync daemon pid (or, where the platform cannot name pids, any sync
// health answer on the recorded port).
func answersHealth(ev classify.Evidence, pid int) bool {
	h := ev.Health
	if ev.Wedged || h == nil || h.DaemonFamily != api.FamilySync {
		return false
	}
	return h.Owner == nil || h.Owner.PID == pid
}

// hints tell the prober which pid probably holds which port; it verifies
// every hint against the socket table, so a stale one misleads nothing.
func (s *Scan) hints(owner *api.OwnerRecord) map[int]int {
	h := map[int]int{}
	for port, rec := range s.instances {
		h[port] = rec.PID
	}
	if owner != nil {
		h[owner.Port] = owner.PID
	}
	if s.Singleton != nil {
		h[s.Singleton.Port] = s.Singleton.PID
	}
	return h
}

// Orphans are the safe_auto and operator_required records.
func (s *Scan) Orphans() []api.IdentityRecord {
	return s.filter(func(r api.IdentityRecord) bool { return r.CleanupClass != api.ClassNeverTouch })
}

// Others are the never_touch records in range.
func (s *Scan) Others() []api.IdentityRecord {
	return s.filter(func(r api.IdentityRecord) bool { return r.CleanupClass == api.ClassNeverTouch })
}

func (s *Scan) filter(keep func(api.IdentityRecord) bool) []api.IdentityRecord {
	out := []api.IdentityRecord{}
	for _, r := range s.Records {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// maxRecord bounds a per-instance or owner record; a real one is ~200 bytes.
const maxRecord = 64 << 10

// readInstances reads daemons/<port>.json of this scope. An unreadable or
// malformed record is skipped: it only ever enables a graceful request.
func readInstances(layout paths.Layout) map[int]api.InstanceRecord {
	out := map[int]api.InstanceRecord{}
	entries, err := os.ReadDir(layout.InstanceDir())
	if err != nil {
		return out
	}
	for _, e := range entries {
		port, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".json"))
		if err != nil || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := paths.ReadFileLimit(filepath.Join(layout.InstanceDir(), e.Name()), maxRecord)
		if err != nil {
			continue
		}
		rec, err := api.ParseInstanceRecord(data)
		if err != nil || rec.Port != port {
			continue
		}
		out[port] = rec
	}
	return out
}

func readOwner(layout paths.Layout) *api.OwnerRecord {
	data, err := paths.ReadFileLimit(layout.OwnerFile(), maxRecord)
	if err != nil {
		return nil
	}
	o, err := api.ParseOwnerRecord(data)
	if err != nil {
		return nil
	}
	return &o
}
