package api

import (
	"encoding/json"
	"testing"
)

// FuzzParseInstanceRecord: any bytes in daemons/<port>.json give a record
// that can name a daemon (pid, port in bounds, token) or an error.
func FuzzParseInstanceRecord(f *testing.F) {
	f.Add([]byte(`{"pid":4242,"port":9400,"token":"t","version":"3.3.0","started_at":"2026-01-01T00:00:00Z","proc_start_time":123}`))
	f.Add([]byte(`{"pid":0,"port":9400}`))
	f.Add([]byte(`{"pid":1e99,"port":-1,"token":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := ParseInstanceRecord(data)
		if err != nil {
			return
		}
		if rec.PID <= 0 || rec.Port <= 0 || rec.Port > 65535 || rec.Token == "" {
			t.Fatalf("accepted an unusable record %+v", rec)
		}
		if _, err := json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseOwnerRecord: any bytes in daemon/owner.json give a record with a
// pid and a port in bounds, or an error.
func FuzzParseOwnerRecord(f *testing.F) {
	f.Add([]byte(`{"pid":4242,"port":9400,"package_version":"3.3.0","executable_path":"/x","scope_id":"/h","started_at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"pid":-4,"port":70000}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseOwnerRecord(data)
		if err != nil {
			return
		}
		if o.PID <= 0 || o.Port <= 0 || o.Port > 65535 {
			t.Fatalf("accepted an unusable record %+v", o)
		}
	})
}
