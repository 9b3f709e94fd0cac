package api

// SyncOverview is a dashboard's GET /api/sync-overview: the `auth doctor
// --json` report of the scope, plus the recorded daemon's sync block so the
// page can show queue depth, last sync, failures and the last upload error
// (SPEC §11).
type SyncOverview struct {
	DoctorReport
	// Sync is the healthy recorded daemon's health `sync` block; with no
	// healthy daemon only its queue_depth is known, read from the queue.
	Sync SyncStatus `json:"sync"`
}
