package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/probe"
)

// TestHelpEnvironment_ListenerSourcesPerPlatform: `help environment` names,
// for each platform, exactly the SPEC_KITTY_LISTENER_SOURCE values the scan
// accepts there — lsof on Linux too, iphlpapi only on Windows.
func TestHelpEnvironment_ListenerSourcesPerPlatform(t *testing.T) {
	code, stdout, stderr := run(t, "help", "environment")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for label, goos := range map[string]string{"Linux:": "linux", "macOS:": "darwin", "Windows:": "windows"} {
		want := label + " " + strings.Join(probe.ValidSources(goos), ", ")
		found := false
		for _, line := range strings.Split(stdout, "\n") {
			if strings.Join(strings.Fields(line), " ") == want {
				found = true
			}
		}
		if !found {
			t.Errorf("help environment has no line %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stdout, "Linux:   auto, sock_diag, procfs, lsof, none") {
		t.Errorf("help environment does not list lsof as a Linux listener source:\n%s", stdout)
	}
}

// TestSyncStatusJSON_OneUnambiguousShape: `sync status --json` has the
// fields of SPEC §12, and its `sync` object exactly the upload fields, each
// once: no top-level `parked` beside sync.parked, no `running` that could
// contradict `healthy`.
func TestSyncStatusJSON_OneUnambiguousShape(t *testing.T) {
	code, stdout, stderr := run(t, "sync", "status", "--json")
	if code != ExitError {
		t.Fatalf("sync status with no daemon: exit %d, want %d (stderr %s)", code, ExitError, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("sync status --json is not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"healthy", "pid", "port", "url", "package_version", "protocol_version", "sync"} {
		if _, ok := got[k]; !ok {
			t.Errorf("sync status --json has no %q:\n%s", k, stdout)
		}
	}
	syncKeys := []string{"uploading", "last_sync", "last_success_at", "failing_since", "consecutive_failures", "last_error", "queue_depth", "parked"}
	for _, k := range syncKeys {
		if _, ok := got[k]; ok {
			t.Errorf("sync status --json has %q at the top level as well as in sync:\n%s", k, stdout)
		}
	}
	syncBlock, _ := got["sync"].(map[string]any)
	if len(syncBlock) != len(syncKeys) {
		t.Errorf("sync block has %d keys, want exactly %v:\n%s", len(syncBlock), syncKeys, stdout)
	}
	for _, k := range syncKeys {
		if _, ok := syncBlock[k]; !ok {
			t.Errorf("sync status --json sync block has no %q:\n%s", k, stdout)
		}
	}
}

// TestSyncPublish_PayloadAndDataTogetherIsAUsageError: --data is an alias of
// --payload (SPEC §12); giving both is ambiguous, so it is refused (exit 2)
// instead of one silently winning.
func TestSyncPublish_PayloadAndDataTogetherIsAUsageError(t *testing.T) {
	code, stdout, stderr := run(t, "sync", "publish", "--type", "ErrorLogged", "--aggregate-id", "e1", "--aggregate-type", "Mission",
		"--payload", `{"error_type":"a","error_message":"b"}`, "--data", `{}`)
	if code != ExitUsage || stdout != "" || !strings.Contains(stderr, "alias of --payload") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d naming the alias", code, stdout, stderr, ExitUsage)
	}
}

// TestHelp_MistypedTopicIsAUsageErrorWithASuggestion: a mistyped help topic
// gets "did you mean" like a mistyped command (SPEC §12), and exit 2 instead
// of the root page with exit 0; known topics and commands still print.
func TestHelp_MistypedTopicIsAUsageErrorWithASuggestion(t *testing.T) {
	for args, want := range map[string]string{
		"help enviroment":  `did you mean "environment"?`,
		"help exit-code":   `did you mean "exit-codes"?`,
		"help sync stat":   `did you mean "status"?`,
		"help nothinglike": `no help topic "nothinglike"`,
	} {
		code, stdout, stderr := run(t, strings.Fields(args)...)
		if code != ExitUsage || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and %q", args, code, stdout, stderr, ExitUsage, want)
		}
	}
	for _, args := range []string{"help", "help environment", "help exit-codes", "help sync status"} {
		if code, stdout, stderr := run(t, strings.Fields(args)...); code != ExitOK || stdout == "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want the page", args, code, stdout, stderr)
		}
	}
}
