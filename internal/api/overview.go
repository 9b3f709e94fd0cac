package api

// SyncOverview is a dashboard's GET /api/sync-overview: the `auth doctor
// --json` report of the scope, plus the recorded daemon's sync block so the
// page can show queue depth, upload health, failures and the last upload
// error (SPEC §10, §11), and the project the dashboard serves.
type SyncOverview struct {
	DoctorReport
	// Sync is the healthy recorded daemon's health `sync` block; with no
	// healthy daemon only its queue_depth and parked are known, read from
	// the queue.
	Sync SyncStatus `json:"sync"`
	// LogPath is the sync daemon's log (`spec-kitty sync logs`).
	LogPath string `json:"log_path"`
	// Project is the dashboard's project and its share of the queue.
	Project ProjectOverview `json:"project"`
}

// ProjectOverview is a project as the dashboard shows it: its identity from
// .kittify/config.yaml and its events in the scope's queue.
type ProjectOverview struct {
	Path     string  `json:"path"`
	UUID     *string `json:"uuid"`
	Slug     *string `json:"slug"`
	RepoSlug *string `json:"repo_slug"`
	// Queued counts this project's events in the queue, parked included.
	Queued int `json:"queued"`
	Parked int `json:"parked"`
	// LogPath is this dashboard's own log.
	LogPath string `json:"log_path"`
	// Error says why the identity or the counts could not be read.
	Error *string `json:"error"`
}
