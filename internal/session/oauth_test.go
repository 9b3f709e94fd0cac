package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// oauthServer is a spec-kitty server's login surface as upstream's flows
// expect it: /oauth/device, /oauth/authorize (the browser's), /oauth/token
// (device_code and authorization_code with PKCE), /api/v1/me, /oauth/revoke.
type oauthServer struct {
	*httptest.Server
	mu        sync.Mutex
	polls     int
	challenge string
	redirect  string
	revoked   []string
}

func newOAuthServer(t *testing.T) *oauthServer {
	s := &oauthServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/device", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("client_id") != "cli_native" || r.PostForm.Get("scope") != "offline_access" {
			http.Error(w, "bad client", 400)
			return
		}
		writeJSON(w, 200, map[string]any{"device_code": "dev-1", "user_code": "ABCD1234",
			"verification_uri": s.URL + "/device", "expires_in": 600, "interval": 1})
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		s.mu.Lock()
		defer s.mu.Unlock()
		switch f.Get("grant_type") {
		case "urn:ietf:params:oauth:grant-type:device_code":
			if f.Get("device_code") != "dev-1" || f.Get("client_id") != "cli_native" {
				writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
				return
			}
			s.polls++
			if s.polls == 1 {
				writeJSON(w, 400, map[string]any{"error": "authorization_pending"})
				return
			}
		case "authorization_code":
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if f.Get("code") != "code-1" || base64.RawURLEncoding.EncodeToString(sum[:]) != s.challenge || f.Get("redirect_uri") != s.redirect {
				writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
				return
			}
		default:
			writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "acc-1", "refresh_token": "ref-1", "token_type": "Bearer",
			"expires_in": 3600, "session_id": "sess-9", "refresh_token_expires_at": "2099-01-01T00:00:00Z"})
	})
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer acc-1" && r.Header.Get("Authorization") != "Bearer ci-token" {
			w.WriteHeader(401)
			return
		}
		writeJSON(w, 200, map[string]any{"user_id": 7, "email": "me@example.com", "name": "Me",
			"teams": []map[string]any{{"id": "shared", "name": "Shared", "role": "member"}, {"id": "mine", "name": "Mine", "role": "owner", "is_private_teamspace": true}}})
	})
	mux.HandleFunc("POST /oauth/revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.revoked = append(s.revoked, r.PostForm.Get("token")+"|"+r.PostForm.Get("token_type_hint"))
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"revoked": true})
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func checkLoginSession(t *testing.T, st *Stored, method, server string) {
	t.Helper()
	if st.AccessToken != "acc-1" || st.RefreshToken != "ref-1" || st.SessionID != "sess-9" || st.Email != "me@example.com" ||
		st.UserID != "7" || st.DefaultTeamID != "mine" || st.TeamSlug() != "mine" || st.AuthMethod != method ||
		st.Scope != "offline_access" || st.StorageBackend != "file" || st.ServerURL != server {
		t.Fatalf("session = %+v", st)
	}
	if !st.RefreshExpires.Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) || st.AccessExpires.Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("expiries: access %v refresh %v", st.AccessExpires, st.RefreshExpires)
	}
}

func TestDeviceLogin(t *testing.T) {
	s := newOAuthServer(t)
	var out strings.Builder
	st, err := (&Login{ServerURL: s.URL, Out: &out, Client: s.Client()}).Device(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkLoginSession(t, st, "device_code", s.URL)
	if !strings.Contains(out.String(), "ABCD-1234") || !strings.Contains(out.String(), s.URL+"/device") {
		t.Errorf("the user was not shown the code and URL: %q", out.String())
	}
}

// TestBrowserLogin drives the browser flow with a "browser" that follows
// the authorize URL the way the server would redirect it.
func TestBrowserLogin(t *testing.T) {
	s := newOAuthServer(t)
	open := func(raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		q := u.Query()
		if u.Path != "/oauth/authorize" || q.Get("client_id") != "cli_native" || q.Get("response_type") != "code" ||
			q.Get("scope") != "offline_access" || q.Get("code_challenge_method") != "S256" {
			return fmt.Errorf("authorize URL %s", raw)
		}
		redirect, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || redirect.Hostname() != "127.0.0.1" || redirect.Path != "/callback" {
			return fmt.Errorf("redirect_uri %q", q.Get("redirect_uri"))
		}
		s.mu.Lock()
		s.challenge, s.redirect = q.Get("code_challenge"), q.Get("redirect_uri")
		s.mu.Unlock()
		go func() {
			resp, err := http.Get(q.Get("redirect_uri") + "?code=code-1&state=" + url.QueryEscape(q.Get("state")))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		return nil
	}
	st, err := (&Login{ServerURL: s.URL, Out: io.Discard, Client: s.Client(), OpenBrowser: open}).Browser(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkLoginSession(t, st, "authorization_code", s.URL)
}

func TestBrowserLoginWithoutBrowser(t *testing.T) {
	if _, err := (&Login{ServerURL: "http://127.0.0.1:1", Out: io.Discard}).Browser(context.Background()); err != ErrNoBrowser {
		t.Fatalf("Browser without a browser = %v", err)
	}
}

func TestTokenFromServer(t *testing.T) {
	s := newOAuthServer(t)
	st, err := TokenFromServer(context.Background(), s.Client(), s.URL, "ci-token", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st.AccessToken != "ci-token" || st.RefreshToken != "" || st.Email != "me@example.com" || st.TeamSlug() != "mine" || st.AuthMethod != "token" {
		t.Fatalf("session = %+v", st)
	}
}

func TestRevoke(t *testing.T) {
	s := newOAuthServer(t)
	if got := Revoke(context.Background(), s.Client(), s.URL, &Stored{RefreshToken: "ref-1"}); got != Revoked {
		t.Errorf("Revoke = %s", got)
	}
	if len(s.revoked) != 1 || s.revoked[0] != "ref-1|refresh_token" {
		t.Errorf("server saw %v", s.revoked)
	}
	if got := Revoke(context.Background(), s.Client(), s.URL, &Stored{}); got != RevokeNoToken {
		t.Errorf("Revoke without a refresh token = %s", got)
	}
	s.Close()
	if got := Revoke(context.Background(), http.DefaultClient, s.URL, &Stored{RefreshToken: "x"}); got != RevokeNetwork {
		t.Errorf("Revoke with the server down = %s", got)
	}
}
