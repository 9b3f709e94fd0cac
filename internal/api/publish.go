package api

import (
	"encoding/json"
	"time"
)

// PublishRequest is the body of POST /api/sync/publish: one
// spec-kitty-events envelope; the daemon stamps node_id and lamport_clock
// when it commits it.
type PublishRequest struct {
	Token string          `json:"token"`
	Event json.RawMessage `json:"event"`
}

// PublishResponse acknowledges an event that is durable in the queue.
type PublishResponse struct {
	EventID string `json:"event_id"`
	// Existed reports a retry of an event already queued: nothing new was
	// queued.
	Existed bool `json:"existed"`
	// AlreadyDelivered reports an event id delivered within the last 30
	// days (the queue's ledger): nothing was queued.
	AlreadyDelivered bool  `json:"already_delivered"`
	LamportClock     int64 `json:"lamport_clock"`
	QueueDepth       int   `json:"queue_depth"`
}

// ParkedEvent is one event the uploader took out of the upload loop
// because the server will not take it as it is.
type ParkedEvent struct {
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	ProjectUUID string    `json:"project_uuid"`
	RetryCount  int       `json:"retry_count"`
	LastError   string    `json:"last_error"`
	QueuedAt    time.Time `json:"queued_at"`
}

// ParkedResult is `spec-kitty sync parked --json`.
type ParkedResult struct {
	Parked []ParkedEvent `json:"parked"`
	// Retried is how many parked events --retry returned to the upload
	// loop.
	Retried int `json:"retried"`
}
