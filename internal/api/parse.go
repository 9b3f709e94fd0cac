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
