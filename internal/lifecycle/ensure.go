// Package lifecycle keeps exactly one healthy sync daemon per scope:
// ensure-running, spawn, stop and status (SPEC §5, §12).
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// EnvSyncDisable skips implicit daemon start when set to 1 (SPEC §13).
const EnvSyncDisable = "SPEC_KITTY_SYNC_DISABLE"

// Intent is what the caller needs the daemon for.
type Intent string

const (
	// IntentSync needs a running sync daemon.
	IntentSync Intent = "sync"
	// IntentLocalOnly never starts or requires a sync daemon (the dashboard).
	IntentLocalOnly Intent = "local_only"
)

// Skip reasons of an implicit start that did not happen.
const (
	SkipSyncDisabled = "sync_disabled: " + EnvSyncDisable + "=1"
	SkipLocalOnly    = "local_only_intent"
)

// Reaper is step 3 of ensure-running: it cleans the scope's safe_auto
// candidates and reports what it stopped. It runs under the scope lock,
// after the state file has been cleared of anything it will not reuse, and
// must never touch anything but safe_auto candidates.
type Reaper func(ctx context.Context, layout paths.Layout) ([]api.SweptEntry, error)

// Options configure ensure-running.
type Options struct {
	Layout  paths.Layout
	Version string // the version this CLI speaks and passes down
	Exe     string // the executable to re-execute; os.Executable when empty
	Intent  Intent
	Reaper  Reaper // nil: no startup reaping
}

// EnsureRunning reuses the scope's healthy daemon or replaces it with one
// fresh daemon, under the scope lock (SPEC §5).
func EnsureRunning(ctx context.Context, opts Options) (api.StartResult, error) {
	res := api.StartResult{Reaped: []api.SweptEntry{}, Notes: []string{}}
	if reason := skipReason(opts.Intent); reason != "" {
		res.SkippedReason = &reason
		return res, nil
	}
	unlock, err := Lock(ctx, opts.Layout.LockFile())
	if err != nil {
		return res, err
	}
	defer unlock()

	// Step 1 and 2: reuse the recorded daemon, or retire it.
	if rec, ok := reuse(ctx, opts, &res); ok {
		// Other daemons of this scope left their per-instance records:
		// reap them too, so one daemon remains (FR-012). Without such
		// records the reuse path stays free of a range scan.
		if strayInstances(opts.Layout, rec.Port) {
			reap(ctx, opts, &res)
		}
		fill(&res, rec, opts.Version)
		res.Reused = true
		return res, nil
	}
	// Step 3: the startup reaper.
	reap(ctx, opts, &res)
	// A recorded daemon that did not answer stayed recorded through the
	// reaper's scan (see reuse); it is forgotten only now, before the new
	// daemon is recorded.
	clearState(opts.Layout.StateFile(), &res)
	// Step 4: spawn one daemon.
	rec, err := Spawn(ctx, opts)
	if err != nil {
		return res, err
	}
	fill(&res, rec, opts.Version)
	res.Started = true
	return res, nil
}

// reap runs the startup reaper, if any, and records what it did.
func reap(ctx context.Context, opts Options, res *api.StartResult) {
	if opts.Reaper == nil {
		return
	}
	reaped, err := opts.Reaper(ctx, opts.Layout)
	res.Reaped = append(res.Reaped, reaped...)
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("startup cleanup incomplete: %v", err))
	}
}

// strayInstances reports whether daemons/ holds a per-instance record, for
// a port other than the recorded daemon's, that still names a live daemon:
// its pid runs with the recorded start time and something holds its port.
// Only then is a range scan worth its cost. On the way it prunes records
// that name nothing (malformed, a dead pid, a reused pid), so they stop
// costing a check on every reuse. The caller holds the scope lock.
func strayInstances(layout paths.Layout, recorded int) bool {
	entries, err := os.ReadDir(layout.InstanceDir())
	if err != nil {
		return false
	}
	own := strconv.Itoa(recorded) + ".json"
	stray := false
	for _, e := range entries {
		name := e.Name()
		if name == own || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(layout.InstanceDir(), name)
		switch InstanceState(path, name) {
		case InstanceGone:
			_ = paths.RemoveIfExists(path)
		case InstanceLive:
			if !spawn.PortFree(portOf(name)) {
				stray = true
			}
		}
	}
	return stray
}

// InstanceLiveness is what a per-instance record still names.
type InstanceLiveness int

// Liveness of a per-instance record.
const (
	// InstanceGone: malformed, or its pid is dead or now another process.
	InstanceGone InstanceLiveness = iota
	// InstanceLive: its pid runs with the recorded start time (or the
	// record predates start times and the pid runs).
	InstanceLive
	// InstanceUnknown: the record could not be read (not a regular file,
	// unreadable); left alone.
	InstanceUnknown
)

// InstanceState reads the record at path (named name, "<port>.json") and
// says whether it still names a live daemon.
func InstanceState(path, name string) InstanceLiveness {
	data, err := paths.ReadFileLimit(path, maxInstanceRecord)
	if err != nil {
		return InstanceUnknown
	}
	rec, err := api.ParseInstanceRecord(data)
	if err != nil || strconv.Itoa(rec.Port)+".json" != name {
		return InstanceGone
	}
	info, err := procinfo.Read(rec.PID)
	switch {
	case errors.Is(err, os.ErrNotExist) || (err == nil && info.Zombie):
		return InstanceGone
	case err != nil:
		return InstanceUnknown
	case rec.ProcStartTime != 0 && info.StartTime != 0 && info.StartTime != rec.ProcStartTime:
		return InstanceGone
	}
	return InstanceLive
}

// maxInstanceRecord bounds a per-instance record; a real one is ~250 bytes.
const maxInstanceRecord = 64 << 10

func portOf(name string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(name, ".json"))
	return n
}

// SyncDisabled reports whether SPEC_KITTY_SYNC_DISABLE=1 turns implicit
// start off for this process.
func SyncDisabled() bool { return os.Getenv(EnvSyncDisable) == "1" }

func skipReason(intent Intent) string {
	switch {
	case intent == IntentLocalOnly:
		return SkipLocalOnly
	case SyncDisabled():
		return SkipSyncDisabled
	}
	return ""
}

func fill(res *api.StartResult, rec statefile.Record, version string) {
	res.PID, res.Port, res.URL, res.PackageVersion = rec.PID, rec.Port, rec.URL, version
}

// reuse implements steps 1 and 2: it returns the recorded daemon when it is
// healthy, proves it holds the recorded token and speaks this version.
// Otherwise it asks a live daemon of another version to exit, clears the
// state file and notes what it found.
func reuse(ctx context.Context, opts Options, res *api.StartResult) (statefile.Record, bool) {
	state := opts.Layout.StateFile()
	rec, err := statefile.Read(state)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return rec, false
	case err != nil:
		res.Notes = append(res.Notes, fmt.Sprintf("ignored unusable state file %s: %v", state, err))
		clearState(state, res)
		return rec, false
	}
	verdict, h := Inspect(ctx, opts.Layout, rec)
	switch verdict {
	case Healthy:
		if h.PackageVersion == opts.Version && h.ProtocolVersion == api.ProtocolVersion {
			return rec, true
		}
		res.Notes = append(res.Notes, fmt.Sprintf("replacing recorded daemon pid %d (version %s) with version %s",
			rec.PID, h.PackageVersion, opts.Version))
		if err := shutdownAndWait(ctx, opts.Layout, rec, cleanup.ActorEnsureRunning); err != nil {
			res.Notes = append(res.Notes, err.Error())
		}
	case Dead:
		res.Notes = append(res.Notes, fmt.Sprintf("state file named pid %d on port %d, which is not running", rec.PID, rec.Port))
	case Unresponsive:
		// Not reused, but still the recorded daemon: the record stays
		// until the startup reaper has scanned, so that a daemon that
		// answers again by then is protected as the recorded singleton
		// (SPEC §7 row 5) and one that still hangs is operator_required —
		// never a reaper candidate either way. EnsureRunning clears it
		// before the spawn.
		res.Notes = append(res.Notes, fmt.Sprintf("state file named pid %d on port %d, which is %s; not reusing it", rec.PID, rec.Port, verdict))
		return rec, false
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("state file named pid %d on port %d, which is %s; not reusing it", rec.PID, rec.Port, verdict))
	}
	clearState(state, res)
	return rec, false
}

func clearState(path string, res *api.StartResult) {
	if err := statefile.Remove(path); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("could not clear state file: %v", err))
	}
}

// Verdict is what Inspect makes of a recorded daemon.
type Verdict string

// Verdicts of Inspect.
const (
	Healthy       Verdict = "healthy"
	Dead          Verdict = "not running"
	Unresponsive  Verdict = "not answering health"
	Impostor      Verdict = "not the recorded daemon (health names another scope, pid or port)"
	TokenMismatch Verdict = "not holding the recorded token"
)

// Inspect checks a recorded daemon: alive, answering health as this scope's
// sync daemon with the recorded pid and port, and holding the token.
func Inspect(ctx context.Context, layout paths.Layout, rec statefile.Record) (Verdict, *api.Health) {
	h, err := client.New(rec.Port).Health(ctx)
	return InspectAnswer(ctx, layout, rec, h, err)
}

// InspectAnswer is Inspect with the health exchange already done (h, or
// err when there was no health answer), for a caller that has just probed
// the port: a wedged daemon then costs its one timeout, not a second one.
func InspectAnswer(ctx context.Context, layout paths.Layout, rec statefile.Record, h *api.Health, err error) (Verdict, *api.Health) {
	c := client.New(rec.Port)
	if err != nil {
		if !pidAlive(rec.PID) {
			return Dead, nil
		}
		return Unresponsive, nil
	}
	if h.DaemonFamily != api.FamilySync || h.SingletonScopeID != layout.ScopeID() ||
		h.Owner == nil || h.Owner.PID != rec.PID || h.Owner.Port != rec.Port {
		if !pidAlive(rec.PID) {
			return Dead, h
		}
		return Impostor, h
	}
	if err := c.Prove(ctx, rec.Token); err != nil {
		return TokenMismatch, h
	}
	return Healthy, h
}
