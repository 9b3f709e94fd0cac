//go:build windows

package procinfo

import (
	"slices"
	"testing"

	"golang.org/x/sys/windows"
)

// TestSplitWindowsCommandLine_MatchesTheOS checks the pure splitter against
// CommandLineToArgvW itself (windows.DecomposeCommandLine) on every table
// case and on the command lines os/exec builds. Wine's shell32 implements
// the same rules, so this runs under Wine too.
func TestSplitWindowsCommandLine_MatchesTheOS(t *testing.T) {
	lines := []string{
		`prog "a b c" d e`, `prog "ab\"c" "\\" d`, `prog a\\\b d"e f"g h`,
		`prog a\\\"b c d`, `prog a\\\\"b c" d e`, `prog a"b"" c d`,
		`prog """Call Me Ishmael"""`, `prog ""Call Me Ishmael""`, `prog "CallMe""Ishmael"`,
		`prog """"Call Me Ishmael"" b c`, `prog "a""b"`, `prog "a\""" b`, `prog """""" x`,
		`"C:\Program Files\Spec Kitty\spec-kitty.exe" __sync-daemon`, `"a"b c`,
		`prog "C:\dir with space\\"`, "prog\t a  \t b", `prog "" x`, `prog "a b`, `"C:\a b`,
		joinWindowsCommandLine([]string{`C:\spec-kitty.exe`, `--spec-kitty-daemon-root=D:\odd "quoted" dir\`, `a\\"b`, ""}),
	}
	for _, line := range lines {
		want, err := windows.DecomposeCommandLine(line)
		if err != nil {
			t.Fatalf("DecomposeCommandLine(%q): %v", line, err)
		}
		if got := SplitWindowsCommandLine(line); !slices.Equal(got, want) {
			t.Errorf("SplitWindowsCommandLine(%q) = %q, CommandLineToArgvW says %q", line, got, want)
		}
	}
}
