package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

// runIn runs the CLI with stdin in the runtime root the caller has set as
// SPEC_KITTY_HOME.
func runIn(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// TestLoginRefusesToReplaceASession: a second login without --force exits
// 1 with one line naming --force and changes nothing; with --force it
// replaces the session.
func TestLoginRefusesToReplaceASession(t *testing.T) {
	home := t.TempDir()
	t.Setenv("SPEC_KITTY_HOME", home)
	t.Setenv("SPEC_KITTY_SAAS_URL", "")
	login := func(email string, extra ...string) (int, string, string) {
		args := append([]string{"auth", "login", "--with-token", "--server", "https://sk.example.com", "--email", email}, extra...)
		return runIn("tok\n", args...)
	}
	if code, _, stderr := login("first@example.com"); code != 0 {
		t.Fatalf("first login: %d %s", code, stderr)
	}
	sessionFile := filepath.Join(home, "auth", "session.json")
	before, _ := os.ReadFile(sessionFile)
	code, stdout, stderr := login("second@example.com")
	if code != ExitError || stdout != "" || !strings.Contains(stderr, "--force") || !strings.Contains(stderr, "first@example.com") ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("second login: %d %q %q; want exit 1 and one line naming --force", code, stdout, stderr)
	}
	if after, _ := os.ReadFile(sessionFile); !bytes.Equal(before, after) {
		t.Fatal("the refused login changed the session")
	}
	if code, _, stderr := login("second@example.com", "--force"); code != 0 {
		t.Fatalf("login --force: %d %s", code, stderr)
	}
	if code, stdout, _ := runIn("", "auth", "status", "--json"); code != 0 || !strings.Contains(stdout, `"second@example.com"`) {
		t.Fatalf("status after login --force: %d %s", code, stdout)
	}
}

// TestLogoutOfAnUnreadableSession: plain logout fails with one line
// naming `auth logout --force`; that removes the files and names them.
func TestLogoutOfAnUnreadableSession(t *testing.T) {
	home := t.TempDir()
	t.Setenv("SPEC_KITTY_HOME", home)
	t.Setenv("SPEC_KITTY_SAAS_URL", "")
	if code, _, stderr := runIn("tok\n", "auth", "login", "--with-token", "--server", "https://sk.example.com", "--email", "u@example.com"); code != 0 {
		t.Fatalf("login: %d %s", code, stderr)
	}
	auth := filepath.Join(home, "auth")
	if err := os.WriteFile(filepath.Join(auth, "session.salt"), []byte("wrong size"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runIn("", "auth", "logout")
	if code != ExitError || !strings.Contains(stderr, "spec-kitty auth logout --force") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("logout: %d %q; want exit 1 and one line naming spec-kitty auth logout --force", code, stderr)
	}
	code, stdout, stderr := runIn("", "auth", "logout", "--force")
	want := "removed " + filepath.Join(auth, "session.json") + "\nremoved " + filepath.Join(auth, "session.salt") +
		"\nremoved " + filepath.Join(auth, "session.hot-path.json") + "\nlogged out\n"
	if code != 0 || stdout != want {
		t.Fatalf("logout --force: %d %q %q; want %q", code, stdout, stderr, want)
	}
	if code, stdout, _ := runIn("", "auth", "logout", "--force"); code != 0 || stdout != "not logged in\n" {
		t.Fatalf("second logout --force: %d %q", code, stdout)
	}
}
