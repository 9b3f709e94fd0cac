package api

import "encoding/json"

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
	Existed      bool  `json:"existed"`
	LamportClock int64 `json:"lamport_clock"`
	QueueDepth   int   `json:"queue_depth"`
}
