package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestAuthStatusShowsUserTeamAndExpiry: the human status names the user,
// the team events go to and when the token expires, never the token.
func TestAuthStatusShowsUserTeamAndExpiry(t *testing.T) {
	t.Setenv("SPEC_KITTY_HOME", t.TempDir())
	t.Setenv("SPEC_KITTY_SAAS_URL", "")
	var out, errOut bytes.Buffer
	ios := &IOStreams{In: strings.NewReader("tok-xyz\n"), Out: &out, ErrOut: &errOut}
	if code := Run(context.Background(), []string{"auth", "login", "--with-token", "--server", "https://sk.example.com", "--email", "u@example.com", "--team", "blue", "--expires-in", "2h"}, ios); code != 0 {
		t.Fatalf("login: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := Run(context.Background(), []string{"auth", "status"}, ios); code != 0 {
		t.Fatalf("status: %d %s", code, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"logged in to https://sk.example.com as u@example.com (team blue)", "team:           blue", "access token:   expires ", "refresh token:  none"} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(s, "(in 1h59m") && !strings.Contains(s, "(in 2h0m0s)") {
		t.Errorf("status does not say the token has about two hours left:\n%s", s)
	}
	if strings.Contains(s, "tok-xyz") {
		t.Errorf("status shows the token:\n%s", s)
	}
}

func TestLoginNeedsAServer(t *testing.T) {
	t.Setenv("SPEC_KITTY_HOME", t.TempDir())
	t.Setenv("SPEC_KITTY_SAAS_URL", "")
	code, _, stderr := run(t, "auth", "login", "--headless")
	if code != ExitUsage || !strings.Contains(stderr, "--server") {
		t.Fatalf("login without a server: %d %q", code, stderr)
	}
}
