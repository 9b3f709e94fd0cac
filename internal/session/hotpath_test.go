package session

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// forgetKeys empties the process's key cache, so the next decryption
// derives the key again and shows up in KeyDerivations.
func forgetKeys(t *testing.T) {
	t.Helper()
	keyCache.Lock()
	keyCache.m = nil
	keyCache.Unlock()
}

// loggedIn stores a token login in a fresh root and returns its session file.
func loggedIn(t *testing.T) string {
	t.Helper()
	useFixtureKey(t, 1<<10)
	path := filepath.Join(t.TempDir(), "auth", credName)
	st, err := TokenLogin{ServerURL: "https://sk.example.com", Email: "u@example.com", Team: "t", Token: "secret-tok"}.Stored(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, st); err != nil {
		t.Fatal(err)
	}
	return path
}

func readHotPath(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(path), hotPathName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "secret-tok") {
		t.Fatalf("the hot-path file carries the token: %s", raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWritePublishesUpstreamsHotPathFile(t *testing.T) {
	path := loggedIn(t)
	hp := filepath.Join(filepath.Dir(path), hotPathName)
	fi, err := os.Stat(hp)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	m := readHotPath(t, path)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, ","); got != "durable_fingerprint,generated_at,max_age_seconds,presence,refresh_token_expires_at,schema_version" {
		t.Errorf("keys %s", got)
	}
	if m["schema_version"] != 1.0 || m["max_age_seconds"] != 30.0 || m["refresh_token_expires_at"] != nil {
		t.Errorf("file %v", m)
	}
	if age := float64(time.Now().UnixNano())/1e9 - m["generated_at"].(float64); age < 0 || age > 5 {
		t.Errorf("generated_at is %.1f s old", age)
	}
	sfi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := durableFingerprint(sfi)
	fp := m["durable_fingerprint"].(map[string]any)
	if len(fp) != 3 || fp["mtime_ns"] != float64(want.MtimeNS) || fp["size"] != float64(want.Size) || fp["inode"] != float64(want.Inode) {
		t.Errorf("durable_fingerprint %v, want %+v", fp, want)
	}
	if p := m["presence"].(map[string]any); p["email"] != "u@example.com" || p["team"] != "t" {
		t.Errorf("presence %v", p)
	}
	if _, err := os.Lstat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

func TestDescribeUsesAFreshHotPathWithoutDerivingTheKey(t *testing.T) {
	path := loggedIn(t)
	forgetKeys(t)
	before := KeyDerivations()
	s, err := Describe(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := KeyDerivations() - before; n != 0 {
		t.Errorf("derived the key %d time(s)", n)
	}
	if s.Email != "u@example.com" || s.Team != "t" || s.ServerURL != "https://sk.example.com" || s.AccessToken != "" {
		t.Errorf("Describe = %+v", s)
	}
}

// rewriteHotPath changes the hot-path file of path with edit.
func rewriteHotPath(t *testing.T, path string, edit func(m map[string]any)) {
	t.Helper()
	m := readHotPath(t, path)
	edit(m)
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), hotPathName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestHotPathMissesAreNeverErrors(t *testing.T) {
	for name, edit := range map[string]func(m map[string]any){
		"stale": func(m map[string]any) { m["generated_at"] = m["generated_at"].(float64) - 31 },
		"claims an age": func(m map[string]any) {
			m["generated_at"], m["max_age_seconds"] = m["generated_at"].(float64)-40, 3600.0
		},
		"from the future": func(m map[string]any) { m["generated_at"] = m["generated_at"].(float64) + 60 },
		"other schema":    func(m map[string]any) { m["schema_version"] = 2 },
		"other file":      func(m map[string]any) { m["durable_fingerprint"].(map[string]any)["size"] = 1.0 },
		"extra key":       func(m map[string]any) { m["durable_fingerprint"].(map[string]any)["dev"] = 1.0 },
		"naive expiry":    func(m map[string]any) { m["refresh_token_expires_at"] = "2030-01-01T00:00:00" },
		"not an object":   func(m map[string]any) { m["durable_fingerprint"] = "x" },
	} {
		t.Run(name, func(t *testing.T) {
			path := loggedIn(t)
			rewriteHotPath(t, path, edit)
			forgetKeys(t)
			before := KeyDerivations()
			s, err := Describe(path, nil)
			if err != nil || s == nil || s.Email != "u@example.com" {
				t.Fatalf("Describe = %+v, %v", s, err)
			}
			if KeyDerivations()-before != 1 {
				t.Errorf("a %s hot-path file was used", name)
			}
			// The decryption published a fresh file, used next time.
			forgetKeys(t)
			before = KeyDerivations()
			if _, err := Describe(path, nil); err != nil || KeyDerivations() != before {
				t.Errorf("the republished file was not used (%v)", err)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		path := loggedIn(t)
		if err := os.WriteFile(filepath.Join(filepath.Dir(path), hotPathName), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Describe(path, nil); err != nil || s == nil {
			t.Fatalf("Describe = %+v, %v", s, err)
		}
	})
}

func TestPythonWrittenHotPathIsRead(t *testing.T) {
	path := loggedIn(t)
	sfi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fp := durableFingerprint(sfi)
	// As upstream's json.dumps(payload, sort_keys=True) writes it.
	py := `{"durable_fingerprint": {"inode": ` + itoa(int64(fp.Inode)) + `, "mtime_ns": ` + itoa(fp.MtimeNS) + `, "size": ` + itoa(fp.Size) +
		`}, "generated_at": ` + itoa(time.Now().Unix()-1) + `.25, "max_age_seconds": 30.0, "refresh_token_expires_at": "2030-01-02T03:04:05.123456+00:00", "schema_version": 1}`
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), hotPathName), []byte(py), 0o600); err != nil {
		t.Fatal(err)
	}
	hp := storeFor(path).loadHotPath(fp, time.Now())
	if hp == nil {
		t.Fatal("a fresh Python-written file was a miss")
	}
	if want := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC); !hp.refreshExpires.Equal(want) || hp.presence != nil {
		t.Errorf("hot path %+v", hp)
	}
	// Without presence it cannot say who: Describe decrypts.
	forgetKeys(t)
	before := KeyDerivations()
	if s, err := Describe(path, nil); err != nil || s.Email != "u@example.com" || KeyDerivations()-before != 1 {
		t.Errorf("Describe = %+v, %v, %d derivations", s, err, KeyDerivations()-before)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestDescribeTrustsTheDaemonOnlyForTheFileItRead(t *testing.T) {
	t.Setenv(EnvDisableHotPath, "1")
	path := loggedIn(t)
	sfi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	held := &api.SessionSummary{Fingerprint: durableFingerprint(sfi), Email: "held@example.com", Team: "h"}
	forgetKeys(t)
	before := KeyDerivations()
	if s, err := Describe(path, held); err != nil || s.Email != "held@example.com" || KeyDerivations() != before {
		t.Errorf("matching summary: %+v, %v, %d derivations", s, err, KeyDerivations()-before)
	}
	held.Fingerprint.Size++
	if s, err := Describe(path, held); err != nil || s.Email != "u@example.com" || KeyDerivations()-before != 1 {
		t.Errorf("summary of another file: %+v, %v, %d derivations", s, err, KeyDerivations()-before)
	}
}

func TestDisabledHotPathIsNeitherWrittenNorRead(t *testing.T) {
	t.Setenv(EnvDisableHotPath, "1")
	path := loggedIn(t)
	hp := filepath.Join(filepath.Dir(path), hotPathName)
	if _, err := os.Lstat(hp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("written while disabled: %v", err)
	}
	t.Setenv(EnvDisableHotPath, "")
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDisableHotPath, "1")
	forgetKeys(t)
	before := KeyDerivations()
	if _, err := Describe(path, nil); err != nil || KeyDerivations()-before != 1 {
		t.Errorf("read while disabled: %v, %d derivations", err, KeyDerivations()-before)
	}
}

func TestDescribeRefusesWhatLoadRefuses(t *testing.T) {
	path := loggedIn(t)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if _, err := Describe(path, nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Describe of a world-readable session: %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(filepath.Dir(path), saltName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Describe(path, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Describe without a salt: %v", err)
	}
}

func TestLogoutRemovesTheHotPath(t *testing.T) {
	path := loggedIn(t)
	if _, err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(path), hotPathName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hot path survived logout: %v", err)
	}
}

// A salt written after the session (another login's, or a race with a
// logout) means the session no longer decrypts: no summary may vouch for
// it, whatever the fingerprint of session.json says.
func TestDescribeDistrustsSummariesWhenTheSaltIsNewer(t *testing.T) {
	path := loggedIn(t)
	salt := filepath.Join(filepath.Dir(path), saltName)
	if err := os.WriteFile(salt, []byte("0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(salt, later, later); err != nil {
		t.Fatal(err)
	}
	sfi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	held := &api.SessionSummary{Fingerprint: durableFingerprint(sfi), Email: "held@example.com"}
	if s, err := Describe(path, held); !errors.Is(err, ErrInvalid) {
		t.Errorf("Describe with a newer salt = %+v, %v; want the session to be unreadable", s, err)
	}
}
