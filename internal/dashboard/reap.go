package dashboard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gofrs/flock"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/probe"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// projectLockWait bounds the wait for another project's lock. Its holder is
// starting or stopping that project's dashboard, which takes milliseconds;
// a holder that keeps it longer (or two cleanups waiting on each other's
// projects) makes this cleanup skip the candidate instead of waiting.
const projectLockWait = time.Second

// ReapOptions configure the dashboard startup cleanup.
type ReapOptions struct {
	// Own is the project of the CLI running the cleanup; the caller already
	// holds its lock.
	Own string
	// Journal records every request and signal.
	Journal *cleanup.Journal
}

// Reap is the dashboard's own startup cleanup (SPEC §8, §11): it scans only
// the dashboard range [9237, 9337) and stops only orphaned dashboards (see
// Decide), through the cleanup engine with family dashboard. Live
// dashboards of other projects are reported as skipped; anything that is
// not provably a dashboard is not a candidate at all. It never scans or
// touches the sync range.
func Reap(ctx context.Context, opts ReapOptions) (api.ResetResult, error) {
	res := api.NewResetResult()
	source, err := probe.SourceFromEnv()
	if err != nil {
		return res, err
	}
	evs, err := probe.Scan(ctx, probe.Options{Ports: api.DashboardRange.Ports(), Source: source})
	if err != nil {
		return res, fmt.Errorf("scanning the dashboard range: %w", err)
	}
	uid := procinfo.CurrentUID()
	var cands []cleanup.Candidate
	var unlocks []func()
	defer func() {
		for _, u := range unlocks {
			u()
		}
	}()
	for _, ev := range evs {
		d := Decide(ev, uid, LookupProject)
		if d.Orphan && d.Project != opts.Own {
			// Re-decide under that project's lock: its CLI may be between
			// spawning a dashboard and recording it.
			unlock, err := lockProject(ctx, d.Project)
			if err != nil {
				d.Orphan, d.Reason = false, LeaveProjectBusy
			} else {
				unlocks = append(unlocks, unlock)
				d = Decide(ev, uid, LookupProject)
			}
		}
		switch {
		case d.Orphan:
			cands = append(cands, candidate(ev, d))
		case d.Project != "":
			pid := d.PID
			res.Skipped = append(res.Skipped, api.SkippedEntry{
				PID: &pid, Port: d.Port, CleanupClass: api.ClassNeverTouch, SkipReason: d.Reason,
			})
		}
	}
	if len(cands) == 0 {
		return res, nil
	}
	eng := &cleanup.Engine{Family: api.FamilyDashboard, Actor: cleanup.ActorDashboardStart, Journal: opts.Journal}
	for _, o := range eng.Clean(ctx, cands) {
		switch {
		case o.Swept != nil:
			res.Swept = append(res.Swept, *o.Swept)
		case o.Failed != nil:
			res.Failed = append(res.Failed, *o.Failed)
		} // a skipped one exited on its own: nothing to report
	}
	return res, nil
}

// candidate is an orphan as the cleanup engine takes it: family dashboard,
// the scan's (pid, start time) identity, no token (an orphan's token is in
// no record this CLI can read), so escalation starts at SIGTERM.
func candidate(ev classify.Evidence, d Decision) cleanup.Candidate {
	family := api.FamilyDashboard
	pid := ev.PID
	r := api.IdentityRecord{
		DaemonFamily:   &family,
		PID:            &pid,
		Port:           ev.Port,
		IdentitySource: api.SourceMarker,
		CleanupClass:   api.ClassSafeAuto,
		Reason:         d.Reason,
	}
	if h := ev.Health; h != nil {
		r.ProtocolVersion, r.PackageVersion = &h.ProtocolVersion, &h.PackageVersion
	}
	return cleanup.Candidate{Record: r, Identity: procinfo.Identity{PID: ev.PID, StartTime: ev.StartTime}}
}

// LookupProject reads what a project directory says about its dashboard.
// A missing or unusable .dashboard names no dashboard; a project that
// cannot be read at all yields Err, and the listener is left alone.
func LookupProject(project string) Project {
	fi, err := os.Stat(project)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return Project{Gone: true}
	case err != nil:
		return Project{Err: err}
	case !fi.IsDir():
		return Project{Gone: true}
	}
	rec, err := statefile.Read(StateFile(project))
	switch {
	case err == nil:
		return Project{Record: &rec}
	case errors.Is(err, os.ErrNotExist), errors.Is(err, statefile.ErrMalformed):
		return Project{}
	}
	return Project{Err: err}
}

// lockProject takes another project's lock, waiting at most
// projectLockWait. A project whose lock file does not exist has never been
// started by a CLI that locks, so there is nothing to wait for; the file is
// never created in someone else's project.
func lockProject(ctx context.Context, project string) (func(), error) {
	fl := flock.New(LockFile(project), flock.SetFlag(os.O_RDONLY))
	ctx, cancel := context.WithTimeout(ctx, projectLockWait)
	defer cancel()
	ok, err := fl.TryLockContext(ctx, 10*time.Millisecond)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return func() {}, nil
	case err != nil:
		return nil, fmt.Errorf("locking %s: %w", LockFile(project), err)
	case !ok:
		return nil, fmt.Errorf("locking %s: busy", LockFile(project))
	}
	return func() { _ = fl.Unlock() }, nil
}
