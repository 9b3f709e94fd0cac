package api

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"testing"
)

// slowParse is the two-pass reading ParseHealth's fast path must agree
// with: the keys of a map decode, then the typed decode.
func slowParse(body []byte) (*Health, []string, bool) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return nil, nil, false
	}
	if _, ok := raw["status"]; !ok {
		return nil, nil, false
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var h Health
	if json.Unmarshal(body, &h) != nil {
		return nil, keys, false
	}
	return &h, keys, true
}

func TestParseHealth_AgreesWithTwoPassReading(t *testing.T) {
	bodies := []string{
		`{"status":"ok","daemon_family":"sync","protocol_version":2,"package_version":"3.2.4","owner":{"pid":12,"port":9400,"status":"nested keys are not top-level"},"sync":{"running":false}}`,
		` { "status" : "ok" , "token" : "t" , "port" : 9400 , "pid" : 1 , "package_version" : "3.1.9" } `,
		`{"status":"ok","a\"b":1,"\u0073tatus2":[{"x":"}"}],"c":"\\"}`,
		`{"status":"ok","status":"twice"}`,
		`{"b":1,"status":"ok","a":{"z":[1,2,{"y":"]"}]}}`,
		`{"STATUS":"ok"}`,
		`{"status":"ok","protocol_version":"not a number"}`,
		`{"daemon_family":"sync"}`,
		`null`,
		`[{"status":"ok"}]`,
		`"status"`,
		`{"status":"ok"`,
		``,
		`{}`,
	}
	for _, b := range bodies {
		h, keys, err := ParseHealth([]byte(b))
		wh, wkeys, wok := slowParse([]byte(b))
		if (err == nil) != wok || !slices.Equal(keys, wkeys) {
			t.Errorf("%s: ParseHealth = keys %q err %v; two-pass = keys %q ok %v", b, keys, err, wkeys, wok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrNotHealth) {
				t.Errorf("%s: err %v is not ErrNotHealth", b, err)
			}
			continue
		}
		got, _ := json.Marshal(h)
		want, _ := json.Marshal(wh)
		if string(got) != string(want) {
			t.Errorf("%s: payload %s, want %s", b, got, want)
		}
	}
}

func BenchmarkParseHealth(b *testing.B) {
	body := []byte(`{"status":"ok","daemon_family":"sync","singleton_scope_id":"/home/u/.spec-kitty","protocol_version":2,"package_version":"3.2.4","sync":{"running":false,"consecutive_failures":0,"queue_depth":0},"owner":{"pid":4242,"port":9400,"package_version":"3.2.4","executable_path":"/usr/local/bin/spec-kitty","queue_db_path":"/home/u/.spec-kitty/queue.db","started_at":"2026-11-30T03:00:00Z"}}`)
	for b.Loop() {
		if _, _, err := ParseHealth(body); err != nil {
			b.Fatal(err)
		}
	}
}
