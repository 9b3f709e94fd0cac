package session

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNew_Validation(t *testing.T) {
	cases := []struct {
		name                      string
		server, email, team, tok  string
		wantErr                   bool
		wantServer, wantTokenTrim string
	}{
		{name: "valid https", server: "https://sync.example.com", email: "u@example.com", team: "t", tok: "abc123", wantServer: "https://sync.example.com", wantTokenTrim: "abc123"},
		{name: "valid http with port and path", server: "http://127.0.0.1:8080/base/", email: "u@example.com", tok: "abc", wantServer: "http://127.0.0.1:8080/base", wantTokenTrim: "abc"},
		{name: "token newline from stdin trimmed", server: "https://s.example", email: "u@x.io", tok: "tok\n", wantServer: "https://s.example", wantTokenTrim: "tok"},
		{name: "ftp scheme", server: "ftp://s.example", email: "u@x.io", tok: "t", wantErr: true},
		{name: "no scheme", server: "s.example", email: "u@x.io", tok: "t", wantErr: true},
		{name: "no host", server: "https://", email: "u@x.io", tok: "t", wantErr: true},
		{name: "credentials in URL", server: "https://a:b@s.example", email: "u@x.io", tok: "t", wantErr: true},
		{name: "query in URL", server: "https://s.example/?x=1", email: "u@x.io", tok: "t", wantErr: true},
		{name: "empty email", server: "https://s.example", email: "", tok: "t", wantErr: true},
		{name: "email without at", server: "https://s.example", email: "user", tok: "t", wantErr: true},
		{name: "email at edge", server: "https://s.example", email: "user@", tok: "t", wantErr: true},
		{name: "empty token", server: "https://s.example", email: "u@x.io", tok: "  \n", wantErr: true},
		{name: "token with inner space", server: "https://s.example", email: "u@x.io", tok: "ab cd", wantErr: true},
		{name: "token with tab", server: "https://s.example", email: "u@x.io", tok: "ab\tcd", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.server, tc.email, tc.team, tc.tok)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("New error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.ServerURL != tc.wantServer || s.AccessToken != tc.wantTokenTrim {
				t.Errorf("New = %+v, want server %q token %q", s, tc.wantServer, tc.wantTokenTrim)
			}
		})
	}
}

func TestValidateToken_NeverQuotesToken(t *testing.T) {
	const tok = "secret part"
	err := ValidateToken(tok)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("ValidateToken(%q) = %v, want an error that does not quote the token", tok, err)
	}
}

func TestAuthScope(t *testing.T) {
	s := &Session{ServerURL: "https://sync.example.com", Email: "u@example.com", Team: "t"}
	if got, want := s.AuthScope(), "https://sync.example.com|u@example.com|t"; got != want {
		t.Errorf("AuthScope = %q, want %q", got, want)
	}
}

func TestSaveLoad_RoundTripPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth", "session.json")
	s, err := New("https://sync.example.com", "u@example.com", "t", "secret-token")
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(path, s); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if *got != *s {
		t.Errorf("Load = %+v, want %+v", got, s)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"server_url"`, `"principal"`, `"team"`, `"access_token"`, `"created_at"`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("session file lacks %s: %s", key, raw)
		}
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("session mode = %o, want 600", fi.Mode().Perm())
		}
	}
}

func TestLoad_Missing(t *testing.T) {
	s, err := Load(filepath.Join(t.TempDir(), "auth", "session.json"))
	if s != nil || err != nil {
		t.Errorf("Load(missing) = %v, %v; want nil, nil", s, err)
	}
}

func TestLoad_Malformed_NamesFile(t *testing.T) {
	cases := []struct {
		name, content string
	}{
		{"not JSON", "{server_url: nope"},
		{"empty", ""},
		{"wrong types", `{"server_url": 5}`},
		{"missing token", `{"server_url":"https://s.example","principal":"u@x.io","team":""}`},
		{"bad scheme", `{"server_url":"file:///etc","principal":"u@x.io","access_token":"t"}`},
		{"huge", `{"team":"` + strings.Repeat("x", maxFileBytes) + `"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "session.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Load(path)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", s)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
}

func TestSave_RejectsInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	if err := Save(path, &Session{ServerURL: "https://s.example", Email: "u@x.io"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Save(no token) = %v, want ErrInvalid", err)
	}
	if err := Save(path, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Save(nil) = %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected Save left a file: %v", err)
	}
}

func TestRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.json")
	if err := Remove(path); err != nil {
		t.Errorf("Remove(missing): %v", err)
	}
	s := &Session{ServerURL: "https://s.example", Email: "u@x.io", AccessToken: "t", CreatedAt: time.Now()}
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	if err := Remove(path); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got, err := Load(path); got != nil || err != nil {
		t.Errorf("Load after Remove = %v, %v; want nil, nil", got, err)
	}
}

func TestLogValue_HidesToken(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	s := &Session{ServerURL: "https://s.example", Email: "u@x.io", Team: "t", AccessToken: "very-secret"}
	log.Info("session", "session", s)
	if strings.Contains(buf.String(), "very-secret") {
		t.Errorf("log line reveals the token: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "u@x.io") {
		t.Errorf("log line lacks the principal: %s", buf.String())
	}
}
