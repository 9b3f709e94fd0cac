package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// MaxHealthBytes bounds a health answer. A real one is under 2 KiB; anything
// bigger is not a Spec Kitty daemon and is not read further.
const MaxHealthBytes = 64 << 10

// ErrNotHealth reports an answer that is not a health payload.
var ErrNotHealth = errors.New("not a health payload")

// ParseHealth decodes a health answer. It returns the payload and the
// payload's top-level keys (a legacy Python daemon is recognised by them: it
// has a "token" key and no "daemon_family"). An answer that is not a JSON
// object with a "status" is ErrNotHealth.
func ParseHealth(body []byte) (*Health, []string, error) {
	if len(body) > MaxHealthBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes is more than %d", ErrNotHealth, len(body), MaxHealthBytes)
	}
	// The common case, a well-formed object, is decoded once; its keys are
	// then read off the (now known valid) text. Anything else takes the
	// general path below, which explains what is wrong.
	var h Health
	if json.Unmarshal(body, &h) == nil {
		if keys, ok := topLevelKeys(body); ok {
			if _, found := slices.BinarySearch(keys, "status"); found {
				return &h, keys, nil
			}
		}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotHealth, err)
	}
	if _, ok := raw["status"]; !ok {
		return nil, nil, fmt.Errorf("%w: no status field", ErrNotHealth)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h = Health{}
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, keys, fmt.Errorf("%w: %v", ErrNotHealth, err)
	}
	return &h, keys, nil
}

// ParseInstanceRecord decodes a per-instance record (daemons/<port>.json)
// and refuses one that cannot name a daemon: no pid, a port out of bounds,
// no token.
func ParseInstanceRecord(data []byte) (InstanceRecord, error) {
	var rec InstanceRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("malformed instance record: %w", err)
	}
	if rec.PID <= 0 || rec.Port <= 0 || rec.Port > 65535 || rec.Token == "" {
		return rec, errors.New("malformed instance record: pid, port or token missing")
	}
	return rec, nil
}

// ParseOwnerRecord decodes daemon/owner.json.
func ParseOwnerRecord(data []byte) (OwnerRecord, error) {
	var o OwnerRecord
	if err := json.Unmarshal(data, &o); err != nil {
		return o, fmt.Errorf("malformed owner record: %w", err)
	}
	if o.PID <= 0 || o.Port <= 0 || o.Port > 65535 {
		return o, errors.New("malformed owner record: pid or port missing")
	}
	return o, nil
}

// topLevelKeys returns the sorted, distinct keys of the JSON object in
// body, which must be valid JSON. It reports false when body is not an
// object or a key cannot be decoded.
func topLevelKeys(body []byte) ([]string, bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	var keys []string
	depth := 0
	expectKey := false
	for ; i < len(body); i++ {
		switch c := body[i]; c {
		case '{', '[':
			depth++
			expectKey = depth == 1 && c == '{'
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			end := stringEnd(body, i)
			if end < 0 {
				return nil, false
			}
			if depth == 1 && expectKey {
				var k string
				if json.Unmarshal(body[i:end+1], &k) != nil {
					return nil, false
				}
				keys = append(keys, k)
				expectKey = false
			}
			i = end
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys), true
}

// stringEnd returns the index of the quote closing the JSON string that
// opens at body[start], or -1.
func stringEnd(body []byte, start int) int {
	for j := start + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
