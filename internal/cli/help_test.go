package cli

import (
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
