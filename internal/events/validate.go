package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/third_party/jsonschema"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// english prints the schema validator's messages; made on first use, as
// only a refused envelope needs it.
var english = sync.OnceValue(func() *message.Printer { return message.NewPrinter(language.English) })

// MaxEnvelopeBytes is the largest envelope the server takes (the batch
// contract's 512 KiB); a larger one is refused at publish, never queued.
const MaxEnvelopeBytes = 512 << 10

// SchemaVersion is the envelope schema version this build emits.
const SchemaVersion = "3.0.0"

// ErrInvalid reports an envelope refused before queueing; its message is one
// line naming the field.
var ErrInvalid = errors.New("invalid event")

// forbiddenKeys are legacy mission-domain keys the contract forbids at any
// depth of an envelope.
var forbiddenKeys = []string{"feature_slug", "feature_number", "feature_type", "mission_key", "legacy_aggregate_id", "mission_run_slug"}

// maxDepth bounds the walk for forbidden keys; JSON deeper than this is
// refused rather than walked.
const maxDepth = 64

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema // file name -> schema
	compileErr  error
)

func schemas() (map[string]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		entries, err := schemaFS.ReadDir("schemas")
		if err != nil {
			compileErr = err
			return
		}
		for _, e := range entries {
			data, err := schemaFS.ReadFile("schemas/" + e.Name())
			if err != nil {
				compileErr = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				compileErr = fmt.Errorf("reading schema %s: %w", e.Name(), err)
				return
			}
			if err := c.AddResource(schemaURL(e.Name()), doc); err != nil {
				compileErr = fmt.Errorf("adding schema %s: %w", e.Name(), err)
				return
			}
		}
		out := map[string]*jsonschema.Schema{}
		for _, e := range entries {
			s, err := c.Compile(schemaURL(e.Name()))
			if err != nil {
				compileErr = fmt.Errorf("compiling schema %s: %w", e.Name(), err)
				return
			}
			out[e.Name()] = s
		}
		compiled = out
	})
	return compiled, compileErr
}

func schemaURL(name string) string { return "mem:///schemas/" + name }

// Validate checks one envelope as the daemon queues and uploads it: size,
// shape, event.schema.json, the envelope version, forbidden legacy keys, a
// known event_type and aggregate_type, and the payload against its type's
// schema. The error wraps ErrInvalid and is one line naming the field.
func Validate(raw []byte) error {
	if err := ValidateContract(raw); err != nil {
		return err
	}
	var head struct {
		EventType     string  `json:"event_type"`
		AggregateType *string `json:"aggregate_type"`
		TeamSlug      any     `json:"team_slug"`
	}
	_ = json.Unmarshal(raw, &head) // shape checked above
	if !Known(head.EventType) {
		return invalidf("event_type: unknown event type %q", head.EventType)
	}
	if head.AggregateType == nil {
		return invalidf("aggregate_type: missing (one of %s)", strings.Join(AggregateTypes, ", "))
	}
	if !slices.Contains(AggregateTypes, *head.AggregateType) {
		return invalidf("aggregate_type: %q is not one of %s", *head.AggregateType, strings.Join(AggregateTypes, ", "))
	}
	if _, ok := head.TeamSlug.(string); head.TeamSlug != nil && !ok {
		return invalidf("team_slug: must be a string or null")
	}
	return nil
}

// ValidateContract checks raw against the spec-kitty-events contract alone
// (what the library's own conformance suite checks): the envelope schema,
// the envelope version, forbidden keys, and the payload schema when the
// event type has one. Validate adds what publishing needs on top.
func ValidateContract(raw []byte) error {
	if len(raw) > MaxEnvelopeBytes {
		return invalidf("event is %d bytes, more than the server's limit of %d", len(raw), MaxEnvelopeBytes)
	}
	set, err := schemas()
	if err != nil {
		return fmt.Errorf("loading event schemas: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return invalidf("event is not valid JSON: %v", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return invalidf("event must be a JSON object")
	}
	if path := findForbidden(obj, "", 0); path != "" {
		return invalidf("%s: forbidden legacy key", path)
	}
	if err := set["event.schema.json"].Validate(obj); err != nil {
		return schemaError("", err)
	}
	if v, _ := obj["schema_version"].(string); v == "" {
		return invalidf("schema_version: missing (this build emits %s)", SchemaVersion)
	} else if major, _, _ := strings.Cut(v, "."); major != "3" {
		return invalidf("schema_version: %q is not a 3.x envelope", v)
	}
	if id, _ := obj["aggregate_id"].(string); strings.HasPrefix(id, "feature/") {
		return invalidf("aggregate_id: legacy prefix \"feature/\" is forbidden")
	}
	typ, _ := obj["event_type"].(string)
	if strings.HasPrefix(typ, "Feature") {
		return invalidf("event_type: legacy event name %q is forbidden", typ)
	}
	if file := registry()[typ]; file != "" {
		if err := set[file].Validate(obj["payload"]); err != nil {
			return schemaError("payload", err)
		}
		if err := payloadRules(typ, obj["payload"]); err != nil {
			return err
		}
	} else if fields, ok := schemalessTypes[typ]; ok {
		payload, _ := obj["payload"].(map[string]any)
		for _, f := range fields {
			if _, ok := payload[f]; !ok {
				return invalidf("payload.%s: missing required field", f)
			}
		}
	}
	return nil
}

// ValidatePayload checks payload against the schema of event type typ.
func ValidatePayload(typ string, payload []byte) error {
	file, ok := registry()[typ]
	if !ok {
		return invalidf("event_type: unknown event type %q", typ)
	}
	set, err := schemas()
	if err != nil {
		return fmt.Errorf("loading event schemas: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return invalidf("payload: not valid JSON: %v", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return invalidf("payload: must be a JSON object")
	}
	if file == "" {
		for _, f := range schemalessTypes[typ] {
			if _, ok := doc.(map[string]any)[f]; !ok {
				return invalidf("payload.%s: missing required field", f)
			}
		}
		return nil
	}
	if err := set[file].Validate(doc); err != nil {
		return schemaError("payload", err)
	}
	return payloadRules(typ, doc)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// schemaError turns a validation error into one line: the first leaf
// failure, named by its JSON path under prefix.
func schemaError(prefix string, err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return invalidf("%s: %v", orEvent(prefix), err)
	}
	leaf := deepest(ve)
	path := prefix
	for _, p := range leaf.InstanceLocation {
		if _, err := strconv.Atoi(p); err == nil {
			path += "[" + p + "]"
			continue
		}
		if path != "" {
			path += "."
		}
		path += p
	}
	msg := strings.Join(strings.Fields(leaf.ErrorKind.LocalizedString(english())), " ")
	return invalidf("%s: %s", orEvent(path), msg)
}

func orEvent(path string) string {
	if path == "" {
		return "event"
	}
	return path
}

// deepest returns the most specific cause: the leaf with the longest
// instance path, first in order on ties, so the error names the field.
func deepest(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	best := ve
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			if len(e.InstanceLocation) > len(best.InstanceLocation) || best == ve {
				best = e
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return best
}

// findForbidden returns the path of the first forbidden key in v, or "".
func findForbidden(v any, path string, depth int) string {
	if depth > maxDepth {
		return orEvent(path)
	}
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if slices.Contains(forbiddenKeys, k) {
				return p
			}
			if found := findForbidden(t[k], p, depth+1); found != "" {
				return found
			}
		}
	case []any:
		for i, e := range t {
			if found := findForbidden(e, path+"["+strconv.Itoa(i)+"]", depth+1); found != "" {
				return found
			}
		}
	}
	return ""
}

// payloadRules adds the rules of the upstream payload models that their
// JSON Schemas cannot state: "*_at" fields are ISO 8601 times, a token
// count adds up, and a status transition obeys the forcing rules.
func payloadRules(typ string, payload any) error {
	p, _ := payload.(map[string]any)
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := p[k].(string); ok && strings.HasSuffix(k, "_at") && !isTime(v) {
			return invalidf("payload.%s: %q is not an ISO 8601 time", k, v)
		}
	}
	switch typ {
	case "TokenUsageRecorded":
		return tokenRules(p)
	case "WPStatusChanged":
		return transitionRules(p)
	}
	return nil
}

// isTime reports whether s is an ISO 8601 date-time as Python writes it.
func isTime(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

func tokenRules(p map[string]any) error {
	in, okIn := p["input_tokens"].(json.Number)
	out, okOut := p["output_tokens"].(json.Number)
	total, okTotal := p["total_tokens"].(json.Number)
	if !okIn || !okOut || !okTotal {
		return nil
	}
	a, _ := in.Int64()
	b, _ := out.Int64()
	c, _ := total.Int64()
	if a+b != c {
		return invalidf("payload.total_tokens: %d is not input_tokens + output_tokens (%d)", c, a+b)
	}
	return nil
}

// transitionRules: a forced transition names its reason, and only a forced
// one moves a work package back to planned.
func transitionRules(p map[string]any) error {
	force, _ := p["force"].(bool)
	reason, _ := p["reason"].(string)
	if force && strings.TrimSpace(reason) == "" {
		return invalidf("payload.reason: required when force is true")
	}
	from, _ := p["from_lane"].(string)
	to, _ := p["to_lane"].(string)
	if to == "planned" && from != "" && from != "planned" && from != "genesis" && !force {
		return invalidf("payload.force: moving %s back to planned needs force with a reason", from)
	}
	return nil
}
