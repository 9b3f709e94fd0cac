package dashboard

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/queue"
)

// overviewTTL is how long one scan answers every page asking for it. The
// page refreshes every few seconds; a second keeps several open tabs from
// each probing all fifty sync ports while still showing fresh state.
const overviewTTL = time.Second

// overviewTimeout bounds one scan: a wedged range costs one health timeout
// (600 ms, SPEC §14), plus the recorded daemon's check.
const overviewTimeout = 5 * time.Second

// errNoOverview reports a server started without an overview source.
var errNoOverview = errors.New("no sync overview configured")

// SyncOverview returns the overview of a scope for the dashboard of
// project: the same read-only report as `spec-kitty auth doctor --json`,
// the daemon's upload health and the project's share of the queue. It
// never cleans, spawns or writes.
func SyncOverview(layout paths.Layout, project, version, exe string) Overview {
	return func(ctx context.Context) (api.SyncOverview, error) {
		scan, err := doctor.ScanScope(ctx, layout, version, exe)
		if err != nil {
			return api.SyncOverview{}, err
		}
		ov := api.SyncOverview{DoctorReport: doctor.Report(ctx, scan), LogPath: layout.LogFile()}
		ov.Sync = syncState(ctx, layout, ov.Daemon)
		ov.Findings = withUploadFailure(ov.Findings, ov.Sync.UploadStatus)
		ov.Project = projectOverview(layout, project)
		return ov, nil
	}
}

// withUploadFailure adds the upload failure to the page's next steps as
// soon as uploads fail, not only once the doctor's threshold is reached:
// the page is where an operator looks while it happens.
func withUploadFailure(fs []api.Finding, st api.UploadStatus) []api.Finding {
	if st.ConsecutiveFailures == 0 {
		return fs
	}
	for _, f := range fs {
		if f.ID == doctor.FindingUploadsFailing {
			return fs
		}
	}
	return append(fs, doctor.UploadFailureFinding(st))
}

// projectOverview reads the project's identity and counts its events in
// the scope's queue (read-only).
func projectOverview(layout paths.Layout, dir string) api.ProjectOverview {
	po := api.ProjectOverview{Path: dir, LogPath: LogFile(dir)}
	p, err := events.LoadProject(dir)
	if err != nil {
		msg := err.Error()
		po.Error = &msg
		return po
	}
	po.UUID = &p.UUID
	if p.Slug != "" {
		po.Slug = &p.Slug
	}
	if p.RepoSlug != "" {
		po.RepoSlug = &p.RepoSlug
	}
	counts, err := queue.ReadProjectCounts(layout.QueueDB(), p.UUID)
	if err != nil {
		msg := err.Error()
		po.Error = &msg
	}
	po.Queued, po.Parked = counts.Depth, counts.Parked
	return po
}

// syncState is the healthy daemon's own account of its uploads; without
// one, the queue depth and parked count read from the queue (read-only), as
// sync status does.
func syncState(ctx context.Context, layout paths.Layout, d api.DoctorDaemon) api.SyncStatus {
	if d.Active && d.Port != nil {
		if h, err := client.New(*d.Port).Health(ctx); err == nil && h.Sync != nil {
			return *h.Sync
		}
	}
	counts, _ := queue.ReadCounts(layout.QueueDB())
	return api.SyncStatus{UploadStatus: api.UploadStatus{QueueDepth: counts.Depth, Parked: counts.Parked}}
}

// overviewCache runs at most one scan at a time and shares its result for
// overviewTTL.
type overviewCache struct {
	source Overview

	mu   sync.Mutex
	at   time.Time
	last api.SyncOverview
	err  error
}

func newOverviewCache(source Overview) *overviewCache { return &overviewCache{source: source} }

func (c *overviewCache) get(ctx context.Context) (api.SyncOverview, error) {
	if c.source == nil {
		return api.SyncOverview{}, errNoOverview
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < overviewTTL {
		return c.last, c.err
	}
	// The scan is not tied to one request: a closed tab must not leave the
	// next one with a cancelled result.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), overviewTimeout)
	defer cancel()
	c.last, c.err = c.source(sctx)
	c.at = time.Now()
	return c.last, c.err
}
