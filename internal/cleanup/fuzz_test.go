package cleanup

import (
	"encoding/json"
	"testing"
)

// FuzzParseJournal: any bytes in cleanup-journal.jsonl give entries or an
// error, never a panic; every entry returned re-encodes.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","actor":"auth_doctor_reset","family":"sync","pid":5001,"port":9401,"step":"terminate","outcome":"intent"}` + "\n"))
	f.Add([]byte("{}\n\n{\"pid\":-1}\n"))
	f.Add([]byte("{not json\n"))
	f.Add([]byte{0xff, '\n', '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _ := ParseJournal(data)
		for _, e := range entries {
			if _, err := json.Marshal(e); err != nil {
				t.Fatalf("entry %+v does not re-encode: %v", e, err)
			}
		}
	})
}
