package session

import (
	"os"
	"reflect"
	"testing"
)

// FuzzSessionFile feeds arbitrary bytes to the session file reader: it
// must return a session or an error, never panic or hang.
func FuzzSessionFile(f *testing.F) {
	for _, name := range []string{"testdata/python-n1024.session.json", "testdata/python-n16384.session.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version": 2, "nonce": "", "ciphertext": ""}`))
	f.Add([]byte(`{"version": "2"}`))
	f.Add([]byte(`[]`))
	salt, err := os.ReadFile("testdata/python.session.salt")
	if err != nil {
		f.Fatal(err)
	}
	scryptN = 1 << 10
	keyInput = func() ([]byte, error) { return []byte(fixturePass), nil }
	s := NewStore(f.TempDir())
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := s.decode(raw, salt)
		if (st == nil) == (err == nil) {
			t.Fatalf("decode = %v, %v", st, err)
		}
	})
}

// FuzzPlaintext feeds arbitrary decrypted plaintexts to the session parser:
// whatever it accepts, it writes back so that a second read sees the same
// session.
func FuzzPlaintext(f *testing.F) {
	f.Add([]byte(`{"user_id":"u","email":"e","name":"n","teams":[],"default_team_id":"","access_token":"a","refresh_token":"r","session_id":"s","issued_at":"2026-01-01T00:00:00+00:00","access_token_expires_at":"2026-01-01T00:00:00Z","scope":"x","storage_backend":"file","last_used_at":"2026-01-01T00:00:00","auth_method":"device_code","x":{"y":1}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, plain []byte) {
		st, err := parseStored(plain)
		if err != nil {
			return
		}
		out, err := st.marshal()
		if err != nil {
			t.Fatalf("marshal of an accepted session: %v", err)
		}
		again, err := parseStored(out)
		if err != nil {
			t.Fatalf("re-reading our own output %s: %v", out, err)
		}
		st.extra, again.extra = nil, nil
		st.teams, again.teams = nil, nil
		st.teamsV, again.teamsV = nil, nil
		if !reflect.DeepEqual(normal(st), normal(again)) {
			t.Fatalf("round trip changed the session:\n%+v\n%+v", st, again)
		}
	})
}

// normal drops sub-microsecond time precision, which Python's isoformat
// does not carry.
func normal(s *Stored) Stored {
	n := *s
	n.IssuedAt = n.IssuedAt.Truncate(1000)
	n.AccessExpires = n.AccessExpires.Truncate(1000)
	n.RefreshExpires = n.RefreshExpires.Truncate(1000)
	n.LastUsedAt = n.LastUsedAt.Truncate(1000)
	return n
}
