// Package events builds and validates spec-kitty-events 6.x envelopes, the
// records the sync daemon queues and uploads (SPEC §10). The JSON Schemas of
// spec-kitty-events 6.1.0 are embedded, so a publish is checked by the same
// rules the server applies before anything is queued.
package events

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"unicode"
)

//go:embed schemas/*.json
var schemaFS embed.FS

// payloadSchemaExceptions names the payload schema of event types whose
// schema is not called "<type>_payload"; every other "*_payload" schema of
// spec-kitty-events is the payload of the event type its name spells.
var payloadSchemaExceptions = map[string]string{
	"WPStatusChanged": "status_transition_payload.schema.json",
	"WPCreated":       "wp_created_payload.schema.json",
}

// dottedTypes are the retrospective lifecycle events, named with dots.
var dottedTypes = map[string]string{
	"retrospective.requested":          "retrospective_requested_payload.schema.json",
	"retrospective.started":            "retrospective_started_payload.schema.json",
	"retrospective.completed":          "retrospective_lifecycle_completed_payload.schema.json",
	"retrospective.skipped":            "retrospective_lifecycle_skipped_payload.schema.json",
	"retrospective.failed":             "retrospective_failed_payload.schema.json",
	"retrospective.proposal.generated": "retrospective_proposal_generated_payload.schema.json",
	"retrospective.proposal.applied":   "retrospective_proposal_applied_payload.schema.json",
	"retrospective.proposal.rejected":  "retrospective_proposal_rejected_payload.schema.json",
}

// schemalessTypes are the event types the upstream CLI emits that have no
// payload schema in spec-kitty-events; their payload must be an object with
// these fields (the upstream emitter's rules).
var schemalessTypes = map[string][]string{
	"BuildRegistered":    {},
	"BuildHeartbeat":     {},
	"WPAssigned":         {"wp_id", "agent_id", "phase"},
	"HistoryAdded":       {"wp_id", "entry_type", "entry_content"},
	"ErrorLogged":        {"error_type", "error_message"},
	"DependencyResolved": {"wp_id", "dependency_wp_id", "resolution_type"},
	"MissionOriginBound": {"mission_slug", "provider", "external_issue_id", "external_issue_key", "external_issue_url", "title"},
}

// AggregateTypes are the aggregate kinds the server routes (upstream's
// VALID_AGGREGATE_TYPES).
var AggregateTypes = []string{"Build", "WorkPackage", "Mission", "MissionDossier"}

// isPayloadFile reports whether name is the payload schema of an event type.
func isPayloadFile(name string) bool {
	return strings.HasSuffix(name, "_payload.schema.json")
}

// typeFromFile turns "gate_passed_payload.schema.json" into "GatePassed".
func typeFromFile(name string) string {
	base := strings.TrimSuffix(name, "_payload.schema.json")
	var b strings.Builder
	for _, part := range strings.Split(base, "_") {
		if part == "" {
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// registry returns the known event types: type -> payload schema file (""
// for the schemaless ones). It is built on first use, not in init: most
// commands (auth doctor, sync status, version) never look an event type up,
// and building it at every process start cost some 300 allocations.
var registry = sync.OnceValue(buildRegistry)

func buildRegistry() map[string]string {
	reg := map[string]string{}
	entries, err := schemaFS.ReadDir("schemas")
	if err != nil {
		panic("events: embedded schemas missing: " + err.Error())
	}
	for _, e := range entries {
		if isPayloadFile(e.Name()) {
			reg[typeFromFile(e.Name())] = e.Name()
		}
	}
	for typ, file := range payloadSchemaExceptions {
		delete(reg, typeFromFile(file))
		reg[typ] = file
	}
	// The retrospective lifecycle is emitted under dotted names.
	for typ, file := range dottedTypes {
		reg[typ] = file
	}
	for typ := range schemalessTypes {
		if _, ok := reg[typ]; !ok {
			reg[typ] = ""
		}
	}
	return reg
}

// Known reports whether typ is a known event type.
func Known(typ string) bool {
	_, ok := registry()[typ]
	return ok
}

// Types returns the known event types, sorted: the order a person reads
// them in an error or a completion list.
func Types() []string {
	out := make([]string, 0, len(registry()))
	for t := range registry() {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Schemas returns the embedded spec-kitty-events JSON Schemas (files under
// "schemas/"), for checks that compile them on their own.
func Schemas() fs.FS { return schemaFS }

// PayloadSchema returns the file name of typ's payload schema; ok is false
// for an unknown type, and the name is "" for a known type without one.
func PayloadSchema(typ string) (name string, ok bool) {
	name, ok = registry()[typ]
	return name, ok
}
