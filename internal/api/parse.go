package api

import (
	"encoding/json"
	"errors"
	"fmt"
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
	var h Health
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
