package dashboard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/cleanup"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// exitWait bounds the wait for a dashboard that accepted a shutdown
// request. Its own graceful exit is bounded by two seconds; five leaves room
// for a loaded machine.
const exitWait = 5 * time.Second

// Journal actors of the dashboard's own lifecycle.
const (
	// ActorStop is `spec-kitty dashboard --stop`.
	ActorStop = "dashboard_stop"
	// ActorReplace is a start that retires its project's dashboard of
	// another version.
	ActorReplace = "dashboard_replace"
)

// ErrNotRunning reports a project whose .dashboard names no running
// dashboard.
var ErrNotRunning = errors.New("no dashboard is running for this project")

// StartOptions configure Start.
type StartOptions struct {
	// Project is the project directory, as ResolveProject returns it.
	Project string
	// Version is what this CLI speaks and passes down.
	Version string
	// Exe is the binary to re-execute.
	Exe string
	// Journal records every request and signal of the startup cleanup: the
	// cleanup-journal.jsonl of the runtime root of the CLI doing it.
	Journal *cleanup.Journal
}

// Result is `spec-kitty dashboard --json`.
type Result struct {
	URL         string `json:"url"`
	Port        int    `json:"port"`
	PID         int    `json:"pid"`
	ProjectPath string `json:"project_path"`
	Reused      bool   `json:"reused"`
	// Cleanup is what the startup cleanup did with the dashboards it found
	// in the range: orphans swept or failed, live ones of other projects
	// skipped. Nil when a healthy dashboard was reused and nothing ran.
	Cleanup *api.ResetResult `json:"cleanup"`
	// Notes are what Start found and repaired on the way.
	Notes []string `json:"notes"`
}

// StopResult is `spec-kitty dashboard --stop --json`.
type StopResult struct {
	Stopped     bool     `json:"stopped"`
	PID         *int     `json:"pid"`
	Port        *int     `json:"port"`
	ProjectPath string   `json:"project_path"`
	Notes       []string `json:"notes"`
}

// Start reuses the project's healthy dashboard of this version, or cleans
// orphaned dashboards of the range and starts a new one, under the project
// lock. It never starts, requires or signals a sync daemon.
func Start(ctx context.Context, opts StartOptions) (Result, error) {
	res := Result{ProjectPath: opts.Project, Notes: []string{}}
	unlock, err := lifecycle.Lock(ctx, LockFile(opts.Project))
	if err != nil {
		return res, err
	}
	defer unlock()

	if rec, ok := reuse(ctx, opts, &res); ok {
		res.URL, res.Port, res.PID, res.Reused = rec.URL, rec.Port, rec.PID, true
		return res, nil
	}
	swept, err := Reap(ctx, ReapOptions{Own: opts.Project, Journal: opts.Journal})
	res.Cleanup = &swept
	if err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("startup cleanup skipped: %v", err))
	}
	for _, f := range swept.Failed {
		res.Notes = append(res.Notes, fmt.Sprintf("could not stop orphaned dashboard pid %s on port %d: %s",
			optPID(f.PID), f.Port, f.FailureReason))
	}
	rec, err := start(ctx, opts)
	if err != nil {
		return res, err
	}
	res.URL, res.Port, res.PID = rec.URL, rec.Port, rec.PID
	return res, nil
}

// reuse returns the recorded dashboard when it is healthy, serves this
// project, holds the recorded token and speaks this version. A healthy one
// of another version is asked to exit; any record not reused is cleared.
func reuse(ctx context.Context, opts StartOptions, res *Result) (statefile.Record, bool) {
	state := StateFile(opts.Project)
	rec, err := statefile.Read(state)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return rec, false
	case err != nil:
		res.Notes = append(res.Notes, fmt.Sprintf("ignored unusable %s: %v", state, err))
		clearState(state, &res.Notes)
		return rec, false
	}
	verdict, h := Inspect(ctx, opts.Project, rec)
	switch verdict {
	case lifecycle.Healthy:
		if h.PackageVersion == opts.Version && h.ProtocolVersion == api.ProtocolVersion {
			return rec, true
		}
		res.Notes = append(res.Notes, fmt.Sprintf("replacing dashboard pid %d (version %s) with version %s",
			rec.PID, h.PackageVersion, opts.Version))
		if err := shutdownAndWait(ctx, rec, opts.Journal, ActorReplace); err != nil {
			res.Notes = append(res.Notes, err.Error())
		}
	case lifecycle.Dead:
		res.Notes = append(res.Notes, fmt.Sprintf("%s named pid %d on port %d, which is not running", state, rec.PID, rec.Port))
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("%s named pid %d on port %d, which is %s; not reusing it",
			state, rec.PID, rec.Port, verdict))
	}
	clearState(state, &res.Notes)
	return rec, false
}

func clearState(path string, notes *[]string) {
	if err := statefile.Remove(path); err != nil {
		*notes = append(*notes, fmt.Sprintf("could not clear %s: %v", path, err))
	}
}

// Inspect checks a recorded dashboard: alive, answering health as a
// dashboard of this project with the recorded pid and port, and holding the
// token. It uses the sync lifecycle's verdicts.
func Inspect(ctx context.Context, project string, rec statefile.Record) (lifecycle.Verdict, *api.Health) {
	c := client.New(rec.Port)
	h, err := c.Health(ctx)
	if err != nil {
		if !procinfo.Alive(rec.PID) {
			return lifecycle.Dead, nil
		}
		return lifecycle.Unresponsive, nil
	}
	if h.DaemonFamily != api.FamilyDashboard || h.ProjectPath != project ||
		h.Owner == nil || h.Owner.PID != rec.PID || h.Owner.Port != rec.Port {
		if !procinfo.Alive(rec.PID) {
			return lifecycle.Dead, h
		}
		return lifecycle.Impostor, h
	}
	if err := c.Prove(ctx, rec.Token); err != nil {
		return lifecycle.TokenMismatch, h
	}
	return lifecycle.Healthy, h
}

// shutdownAndWait asks the dashboard of rec to exit and waits until its
// process is gone and its port is free.
func shutdownAndWait(ctx context.Context, rec statefile.Record, j *cleanup.Journal, actor string) error {
	if err := cleanup.RequestShutdown(ctx, j, actor, api.FamilyDashboard, rec.PID, rec.Port, rec.Token); err != nil {
		return fmt.Errorf("asking dashboard pid %d to stop: %w", rec.PID, err)
	}
	if !lifecycle.WaitGone(ctx, rec.PID, rec.Port, exitWait) {
		return fmt.Errorf("dashboard pid %d accepted shutdown but is still running after %v", rec.PID, exitWait)
	}
	return nil
}

// Stop stops the project's recorded dashboard and clears its record. A
// healthy one is asked to exit with its token; one that does not answer,
// but is provably this project's dashboard process, is stopped through the
// cleanup engine (terminate, then kill), journaled under ActorStop.
func Stop(ctx context.Context, project string, journal *cleanup.Journal) (StopResult, error) {
	res := StopResult{ProjectPath: project, Notes: []string{}}
	state := StateFile(project)
	if _, err := os.Stat(filepath.Dir(state)); errors.Is(err, os.ErrNotExist) {
		return res, ErrNotRunning // never create .kittify just to say so
	}
	unlock, err := lifecycle.Lock(ctx, LockFile(project))
	if err != nil {
		return res, err
	}
	defer unlock()
	rec, err := statefile.Read(state)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return res, ErrNotRunning
	case err != nil:
		clearState(state, &res.Notes)
		return res, fmt.Errorf("%w (%v; removed it)", ErrNotRunning, err)
	}
	res.PID, res.Port = &rec.PID, &rec.Port
	switch verdict, _ := Inspect(ctx, project, rec); verdict {
	case lifecycle.Dead:
		clearState(state, &res.Notes)
		return res, fmt.Errorf("%w (%s named pid %d, which is not running; cleared it)", ErrNotRunning, state, rec.PID)
	case lifecycle.Healthy:
		if err := shutdownAndWait(ctx, rec, journal, ActorStop); err != nil {
			return res, err
		}
	case lifecycle.Unresponsive, lifecycle.TokenMismatch:
		if err := forceStop(ctx, project, rec, journal); err != nil {
			return res, fmt.Errorf("dashboard pid %d on port %d is %s: %w", rec.PID, rec.Port, verdict, err)
		}
		res.Notes = append(res.Notes, fmt.Sprintf("dashboard pid %d was %s; stopped it with a signal", rec.PID, verdict))
	default:
		return res, fmt.Errorf("%s names pid %d on port %d, which is %s; not stopping it", state, rec.PID, rec.Port, verdict)
	}
	res.Stopped = true
	clearState(state, &res.Notes)
	return res, nil
}

// forceStop signals the recorded dashboard when the OS confirms that its
// pid is this user's `__dashboard-daemon` for this project. The engine
// re-checks range, family, shape and start time before every step.
func forceStop(ctx context.Context, project string, rec statefile.Record, journal *cleanup.Journal) error {
	info, err := procinfo.Read(rec.PID)
	if err != nil {
		return fmt.Errorf("reading pid %d: %w", rec.PID, err)
	}
	p, ok := projectOf(info.Argv)
	if !info.ArgvReadable || !classify.DashboardShape(info.Argv) || !ok || p != project || info.UID != procinfo.CurrentUID() {
		return fmt.Errorf("pid %d is not this project's dashboard process", rec.PID)
	}
	family := api.FamilyDashboard
	cand := cleanup.Candidate{
		Record: api.IdentityRecord{
			DaemonFamily: &family, PID: &rec.PID, Port: rec.Port, IdentitySource: api.SourceMarker,
			CleanupClass: api.ClassSafeAuto, Reason: "stop_requested",
		},
		Identity: info.Identity(),
	}
	eng := &cleanup.Engine{Family: api.FamilyDashboard, Actor: ActorStop, Journal: journal}
	if out := eng.Clean(ctx, []cleanup.Candidate{cand})[0]; out.Failed != nil {
		return errors.New(out.Failed.FailureReason)
	}
	return nil
}

func optPID(p *int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}
