package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// run executes a command line in-process against a private runtime root.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("SPEC_KITTY_HOME", t.TempDir())
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestUsageErrorsExitTwoWithOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"sync", "bogus"},
		{"sync", "start", "--nope"},
		{"auth", "doctor", "--force"},
		{"sync", "publish"},
		{"sync", "publish", "--type", "t", "--data", "{not json"},
		{"auth", "login", "--with-token", "--server", "http://127.0.0.1:1"},
		{"auth", "login", "--server", "ftp://x", "--email", "u@example.com"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := run(t, args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, ExitUsage, stderr)
			}
			if stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "spec-kitty: ") {
				t.Fatalf("want one error line on stderr; stdout %q stderr %q", stdout, stderr)
			}
		})
	}
}

func TestSyncDisableSkipsStart(t *testing.T) {
	t.Setenv("SPEC_KITTY_SYNC_DISABLE", "1")
	code, stdout, _ := run(t, "sync", "start", "--json")
	if code != ExitOK || !strings.Contains(stdout, `"skipped_reason": "sync_disabled: SPEC_KITTY_SYNC_DISABLE=1"`) ||
		!strings.Contains(stdout, `"pid": null`) || !strings.Contains(stdout, `"url": null`) {
		t.Fatalf("exit %d, stdout %s", code, stdout)
	}
}

func TestVersionHonoursEnv(t *testing.T) {
	t.Setenv("SPEC_KITTY_CLI_VERSION", "3.2.2")
	if code, stdout, _ := run(t, "version"); code != 0 || stdout != "spec-kitty 3.2.2\n" {
		t.Fatalf("version: %d %q", code, stdout)
	}
}

func TestAuthLoginStatusLogout(t *testing.T) {
	t.Setenv("SPEC_KITTY_HOME", t.TempDir())
	var out, errOut bytes.Buffer
	ios := &IOStreams{In: strings.NewReader("tok-123\n"), Out: &out, ErrOut: &errOut}
	if code := Run(context.Background(), []string{"auth", "login", "--server", "http://127.0.0.1:1/", "--email", "u@example.com", "--team", "t"}, ios); code != 0 {
		t.Fatalf("login: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := Run(context.Background(), []string{"auth", "status", "--json"}, ios); code != 0 {
		t.Fatal(errOut.String())
	}
	if strings.Contains(out.String(), "tok-123") || !strings.Contains(out.String(), `"auth_scope": "http://127.0.0.1:1|u@example.com|t"`) {
		t.Fatalf("auth status --json: %s", out.String())
	}
	out.Reset()
	if code := Run(context.Background(), []string{"auth", "logout"}, ios); code != 0 {
		t.Fatal(errOut.String())
	}
	out.Reset()
	_ = Run(context.Background(), []string{"auth", "status"}, ios)
	if out.String() != "not logged in\n" {
		t.Fatalf("after logout: %q", out.String())
	}
}

// TestDoctorIsReadOnlyOnAMissingRoot: a plain auth doctor does not even
// create the runtime root.
func TestDoctorIsReadOnlyOnAMissingRoot(t *testing.T) {
	root := t.TempDir() + "/never-created"
	t.Setenv("SPEC_KITTY_HOME", root)
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"auth", "doctor", "--json"}, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if code != 0 || !strings.Contains(out.String(), `"schema_version": 2`) {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Fatalf("auth doctor created the runtime root: %v", err)
	}
}

// The bare `version` of Main answers before cobra exists; it must print
// exactly what the command prints, and leave every other form to cobra.
func TestFastVersionPrintsWhatTheCommandPrints(t *testing.T) {
	t.Setenv("SPEC_KITTY_CLI_VERSION", "9.8.7")
	_, want, _ := run(t, "version")
	var out bytes.Buffer
	if !printVersion([]string{"version"}, &out) || out.String() != want {
		t.Fatalf("fast path printed %q, the command %q", out.String(), want)
	}
	for _, args := range [][]string{{"version", "--json"}, {"version", "--help"}, {"version", "x"}, {}, {"--version"}} {
		if printVersion(args, &out) {
			t.Errorf("%v took the fast path", args)
		}
	}
}
