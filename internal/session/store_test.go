package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fixturePass is the passphrase gen_fixture.py encrypted the fixtures with
// (it stands for "hostname:uid" of the machine that wrote them).
const fixturePass = "fixture-host:1000"

// useFixtureKey makes this process derive keys as the fixture's host did,
// with scrypt cost n (the fixtures exist at 2^10 and at the real 2^14).
func useFixtureKey(t *testing.T, n int) {
	t.Helper()
	oldN, oldKey := scryptN, keyInput
	scryptN = n
	keyInput = func() ([]byte, error) { return []byte(fixturePass), nil }
	t.Cleanup(func() { scryptN, keyInput = oldN, oldKey })
}

// installFixture copies a Python-written session into a fresh runtime root
// and returns the session file's path.
func installFixture(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	auth := filepath.Join(root, "auth")
	if err := os.MkdirAll(auth, 0o700); err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{name + ".session.json": credName, "python.session.salt": saltName} {
		b, err := os.ReadFile(filepath.Join("testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(auth, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(auth, credName)
}

// plaintext decrypts the session file at path into a generic map, as a
// reader that knows nothing of this package's types would see it.
func plaintext(t *testing.T, path string) map[string]any {
	t.Helper()
	s := storeFor(path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	salt, err := os.ReadFile(s.SaltPath())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.decrypt(raw, salt)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(plain, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReadsPythonSession(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := installFixture(t, "python-n1024")
	st, err := ReadStored(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Email != "py@example.com" || st.AccessToken != "py-access-1" || st.RefreshToken != "py-refresh-1" ||
		st.SessionID != "sess-1" || st.AuthMethod != "device_code" || st.Generation == nil || *st.Generation != 3 {
		t.Fatalf("stored = %+v", st)
	}
	if got := st.TeamSlug(); got != "team-private" {
		t.Errorf("TeamSlug = %q, want the Private Teamspace", got)
	}
	want := time.Date(2026, 1, 1, 1, 0, 0, 250_000_000, time.UTC)
	if !st.AccessExpires.Equal(want) {
		t.Errorf("access expiry = %v, want %v", st.AccessExpires, want)
	}
	if len(st.Teams) != 2 || !st.Teams[1].IsPrivateTeamspace {
		t.Errorf("teams = %+v", st.Teams)
	}
}

// TestRealCostRoundTrip reads the fixture written at the production scrypt
// cost, writes it back and reads it again: the key derivation is the
// Python CLI's, at its real parameters.
func TestRealCostRoundTrip(t *testing.T) {
	useFixtureKey(t, 1<<14)
	path := installFixture(t, "python-n16384")
	before := plaintext(t, path)
	st, err := ReadStored(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	after := plaintext(t, path)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("round trip changed the session:\nbefore %v\nafter  %v", before, after)
	}
	raw, _ := os.ReadFile(path)
	var b map[string]any
	if err := json.Unmarshal(raw, &b); err != nil || b["version"] != float64(2) || len(b) != 3 {
		t.Errorf("session file is not {version: 2, nonce, ciphertext}: %s", raw)
	}
	if !strings.HasPrefix(string(raw), `{"version": 2, "nonce": "`) {
		t.Errorf("not Python's json.dumps spelling: %.40s", raw)
	}
	salt, _ := os.ReadFile(storeFor(path).SaltPath())
	if want, _ := os.ReadFile("testdata/python.session.salt"); !bytes.Equal(salt, want) {
		t.Error("the salt was replaced")
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %o, want 600", fi.Mode().Perm())
		}
	}
}

func TestSaveCreatesSaltAndReadsBack(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := filepath.Join(t.TempDir(), "auth", credName)
	st, err := TokenLogin{ServerURL: "https://sk.example.com/", Email: "u@example.com", Team: "t", Token: "tok\n"}.Stored(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	if salt, err := os.ReadFile(filepath.Join(filepath.Dir(path), saltName)); err != nil || len(salt) != 16 {
		t.Fatalf("salt: %v, %d bytes", err, len(salt))
	}
	m := plaintext(t, path)
	for _, k := range requiredKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("plaintext lacks %q, which the Python CLI requires", k)
		}
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.ServerURL != "https://sk.example.com" || s.Email != "u@example.com" || s.Team != "t" || s.AccessToken != "tok" {
		t.Errorf("Load = %+v", s)
	}
	if got, want := s.AuthScope(), "https://sk.example.com|u@example.com|t"; got != want {
		t.Errorf("AuthScope = %q, want %q", got, want)
	}
}

func TestTokenLoginValidation(t *testing.T) {
	cases := []struct {
		name                 string
		server, email, token string
		wantErr              bool
	}{
		{"valid", "https://s.example", "u@x.io", "abc", false},
		{"ftp scheme", "ftp://s.example", "u@x.io", "t", true},
		{"no host", "https://", "u@x.io", "t", true},
		{"credentials in URL", "https://a:b@s.example", "u@x.io", "t", true},
		{"query", "https://s.example/?x=1", "u@x.io", "t", true},
		{"bad email", "https://s.example", "user@", "t", true},
		{"empty token", "https://s.example", "u@x.io", " \n", true},
		{"token with space", "https://s.example", "u@x.io", "secret part", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TokenLogin{ServerURL: tc.server, Email: tc.email, Token: tc.token}.Stored(time.Now())
			if tc.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "secret")) {
				t.Errorf("error %v: want ErrInvalid that never quotes the token", err)
			}
		})
	}
}

func TestMissingSessionIsNoSession(t *testing.T) {
	s, err := Load(filepath.Join(t.TempDir(), "auth", credName))
	if s != nil || err != nil {
		t.Errorf("Load(missing) = %v, %v", s, err)
	}
}

func TestForeignOrDamagedSessionsAreInvalid(t *testing.T) {
	useFixtureKey(t, 1<<10)
	cases := map[string]string{
		"plaintext v1":  `{"version": 1, "access_token": "x"}`,
		"old go format": `{"server_url":"https://s","principal":"u@x.io","access_token":"t"}`,
		"bad nonce":     `{"version": 2, "nonce": "zz", "ciphertext": "00"}`,
		"wrong key":     `{"version": 2, "nonce": "000000000000000000000000", "ciphertext": "00112233445566778899aabbccddeeff"}`,
		"not json":      `{nope`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := installFixture(t, "python-n1024")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if s, err := Load(path); s != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load = %v, %v; want ErrInvalid", s, err)
			}
		})
	}
	t.Run("another host", func(t *testing.T) {
		path := installFixture(t, "python-n1024")
		keyInput = func() ([]byte, error) { return []byte("other-host:1000"), nil }
		if _, err := Load(path); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Load with another host's key = %v, want ErrInvalid", err)
		}
	})
}

// TestRemoveDeletesOnlyUpstreamsLogoutFiles: session, salt and the
// hot-path summary go; the locks and every other file stay.
func TestRemoveDeletesOnlyUpstreamsLogoutFiles(t *testing.T) {
	useFixtureKey(t, 1<<10)
	path := installFixture(t, "python-n1024")
	dir := filepath.Dir(path)
	for _, n := range []string{hotPathName, refreshName, "other.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Remove(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{path, filepath.Join(dir, saltName), filepath.Join(dir, hotPathName)}
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("Remove reported %v, want %v", removed, want)
	}
	for _, n := range []string{credName, saltName, hotPathName} {
		if _, err := os.Lstat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived logout: %v", n, err)
		}
	}
	for _, n := range []string{refreshName, "other.json", lockName} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
	if removed, err := Remove(path); err != nil || len(removed) != 0 {
		t.Errorf("second Remove: %v, %v", removed, err)
	}
}

func TestConfigTomlNamesTheServer(t *testing.T) {
	t.Setenv(EnvServerURL, "")
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "config.toml"), []byte("[sync]\nserver_url = \"https://cfg.example.com/\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ResolveServerURL(root, &Stored{}); got != "https://cfg.example.com" {
		t.Errorf("from config.toml: %q", got)
	}
	if got := ResolveServerURL(root, &Stored{ServerURL: "https://login.example.com"}); got != "https://login.example.com" {
		t.Errorf("the login's server should win over config.toml: %q", got)
	}
	t.Setenv(EnvServerURL, "https://env.example.com")
	if got := ResolveServerURL(root, &Stored{ServerURL: "https://login.example.com"}); got != "https://env.example.com" {
		t.Errorf("%s should win: %q", EnvServerURL, got)
	}
}

func TestPythonTimeFormat(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC):           "2026-01-02T03:04:05+00:00",
		time.Date(2026, 1, 2, 3, 4, 5, 120_000_789, time.UTC): "2026-01-02T03:04:05.120000+00:00",
	} {
		if got := formatISO(in); got != want {
			t.Errorf("formatISO(%v) = %q, want %q", in, got, want)
		}
		back, err := parseISO(want)
		if err != nil || !back.Equal(in.Truncate(time.Microsecond)) {
			t.Errorf("parseISO(%q) = %v, %v", want, back, err)
		}
	}
	for _, s := range []string{"2026-01-02T03:04:05Z", "2026-01-02T03:04:05", "2026-01-02T05:04:05+02:00"} {
		if got, err := parseISO(s); err != nil || !got.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("parseISO(%q) = %v, %v", s, got, err)
		}
	}
}

// BenchmarkLoad measures one read of the session at the real scrypt cost,
// as the daemon does for each health answer and batch: the derived key is
// cached, so only the first read pays for scrypt.
func BenchmarkLoad(b *testing.B) {
	oldN, oldKey := scryptN, keyInput
	scryptN = 1 << 14
	keyInput = func() ([]byte, error) { return []byte(fixturePass), nil }
	b.Cleanup(func() { scryptN, keyInput = oldN, oldKey })
	root := b.TempDir()
	auth := filepath.Join(root, "auth")
	_ = os.MkdirAll(auth, 0o700)
	for src, dst := range map[string]string{"python-n16384.session.json": credName, "python.session.salt": saltName} {
		data, _ := os.ReadFile(filepath.Join("testdata", src))
		_ = os.WriteFile(filepath.Join(auth, dst), data, 0o600)
	}
	path := filepath.Join(auth, credName)
	b.ResetTimer()
	for b.Loop() {
		if s, err := Load(path); err != nil || s == nil {
			b.Fatal(err)
		}
	}
}

// TestLoadCachedSeesEveryChange: the cached load answers from memory only
// while nothing changed; a new session, a logout or a chmod is seen at once.
func TestLoadCachedSeesEveryChange(t *testing.T) {
	useFixtureKey(t, 1<<10)
	t.Setenv(EnvServerURL, "https://env.example.com")
	path := installFixture(t, "python-n1024")
	s1, err := LoadCached(path)
	if err != nil || s1 == nil || s1.AccessToken != "py-access-1" {
		t.Fatalf("first = %+v, %v", s1, err)
	}
	if s2, _ := LoadCached(path); s2 != s1 {
		t.Error("an unchanged session was read again")
	}
	st, _ := ReadStored(path)
	st.AccessToken = "rotated"
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	if s3, err := LoadCached(path); err != nil || s3.AccessToken != "rotated" {
		t.Fatalf("after a rewrite = %+v, %v", s3, err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCached(path); !errors.Is(err, ErrUntrusted) {
			t.Fatalf("after chmod 644 = %v, want ErrUntrusted", err)
		}
	}
	if _, err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadCached(path); s != nil || err != nil {
		t.Fatalf("after logout = %+v, %v", s, err)
	}
}

// BenchmarkLoadCached is the daemon's read per health answer: stats only
// while the session is unchanged.
func BenchmarkLoadCached(b *testing.B) {
	oldN, oldKey := scryptN, keyInput
	scryptN = 1 << 14
	keyInput = func() ([]byte, error) { return []byte(fixturePass), nil }
	b.Cleanup(func() { scryptN, keyInput = oldN, oldKey })
	auth := filepath.Join(b.TempDir(), "auth")
	_ = os.MkdirAll(auth, 0o700)
	for src, dst := range map[string]string{"python-n16384.session.json": credName, "python.session.salt": saltName} {
		data, _ := os.ReadFile(filepath.Join("testdata", src))
		_ = os.WriteFile(filepath.Join(auth, dst), data, 0o600)
	}
	path := filepath.Join(auth, credName)
	if s, err := LoadCached(path); err != nil || s == nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if s, err := LoadCached(path); err != nil || s == nil {
			b.Fatal(err)
		}
	}
}
