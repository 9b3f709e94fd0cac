package procinfo

import (
	"slices"
	"strings"
	"testing"
)

// escapeWindowsArg quotes one argument the way os/exec does on Windows
// (syscall.EscapeArg), so the tests can prove the round trip from a spawn
// argv to the command line the OS stores and back.
func escapeWindowsArg(s string) string {
	if s == "" {
		return `""`
	}
	if !strings.ContainsAny(s, "\"\\ \t") {
		return s
	}
	var b strings.Builder
	quote := strings.ContainsAny(s, " \t")
	if quote {
		b.WriteByte('"')
	}
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(s[i])
	}
	if quote {
		b.WriteString(strings.Repeat(`\`, slashes))
		b.WriteByte('"')
	}
	return b.String()
}

func joinWindowsCommandLine(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = escapeWindowsArg(a)
	}
	return strings.Join(parts, " ")
}

func TestSplitWindowsCommandLine(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		// The examples of Microsoft's "Parsing C command-line arguments".
		{"ms: quoted run", `prog "a b c" d e`, []string{"prog", "a b c", "d", "e"}},
		{"ms: escaped quote and lone backslash", `prog "ab\"c" "\\" d`, []string{"prog", `ab"c`, `\`, "d"}},
		{"ms: literal backslashes", `prog a\\\b d"e f"g h`, []string{"prog", `a\\\b`, "de fg", "h"}},
		{"ms: odd backslashes before quote", `prog a\\\"b c d`, []string{"prog", `a\"b`, "c", "d"}},
		{"ms: even backslashes before quote", `prog a\\\\"b c" d e`, []string{"prog", `a\\b c`, "d", "e"}},
		// Where CommandLineToArgvW and the post-2008 C runtime part ways:
		// inside quotes "" is a literal quote that also ends the quoted
		// run (the C runtime keeps the run open). The runtime's answers
		// are in the comments.
		{"ms: doubled quote ends the run", `prog a"b"" c d`, []string{"prog", `ab"`, "c", "d"}},                  // CRT: ab" c d
		{"ishmael in tripled quotes", `prog """Call Me Ishmael"""`, []string{"prog", `"Call`, "Me", `Ishmael"`}}, // CRT: "Call Me Ishmael"
		{"ishmael in doubled quotes", `prog ""Call Me Ishmael""`, []string{"prog", "Call", "Me", "Ishmael"}},
		{"ishmael quoted with a doubled quote", `prog "CallMe""Ishmael"`, []string{"prog", `CallMe"Ishmael`}},
		{"ishmael in quadrupled quotes", `prog """"Call Me Ishmael"" b c`, []string{"prog", `"Call Me Ishmael"`, "b", "c"}}, // CRT: "Call Me Ishmael b c
		{"doubled quote inside quotes", `prog "a""b"`, []string{"prog", `a"b`}},
		{"escaped quote then a quote closes the run", `prog "a\"" b`, []string{"prog", `a"`, "b"}},
		{"six quotes are two literal quotes", `prog """""" x`, []string{"prog", `""`, "x"}},
		{"program in quotes keeps backslashes", `"C:\Program Files\Spec Kitty\spec-kitty.exe" __sync-daemon`,
			[]string{`C:\Program Files\Spec Kitty\spec-kitty.exe`, "__sync-daemon"}},
		{"spawn markers with drive letters and spaces",
			`C:\Tools\spec-kitty.exe __sync-daemon --port=9401 "--spec-kitty-daemon-root=C:\Users\Ann Lee\AppData\Local\spec-kitty"`,
			[]string{`C:\Tools\spec-kitty.exe`, "__sync-daemon", "--port=9401", `--spec-kitty-daemon-root=C:\Users\Ann Lee\AppData\Local\spec-kitty`}},
		{"trailing backslash in a quoted path", `prog "C:\dir with space\\"`, []string{"prog", `C:\dir with space\`}},
		{"tabs and runs of blanks", "prog\t a  \t b", []string{"prog", "a", "b"}},
		{"empty argument", `prog "" x`, []string{"prog", "", "x"}},
		{"unterminated quote", `prog "a b`, []string{"prog", "a b"}},
		{"unterminated quoted program", `"C:\a b`, []string{`C:\a b`}},
		{"empty", "", nil},
		{"blanks only", "  \t", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SplitWindowsCommandLine(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("SplitWindowsCommandLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSplitWindowsCommandLine_RoundTrip(t *testing.T) {
	argvs := [][]string{
		{`C:\Program Files\spec-kitty\spec-kitty.exe`, "__sync-daemon", "--port=9449", `--spec-kitty-daemon-root=C:\Users\Ann\AppData\Local\spec-kitty`},
		{`C:\spec-kitty.exe`, `--spec-kitty-daemon-root=D:\odd "quoted" dir\`, `a\\"b`, ""},
		{`py.exe`, "-c", `import x; print("hi")`, `\\server\share\path with space`},
	}
	for _, argv := range argvs {
		line := joinWindowsCommandLine(argv)
		if got := SplitWindowsCommandLine(line); !slices.Equal(got, argv) {
			t.Errorf("round trip of %q through %q = %q", argv, line, got)
		}
	}
}

func FuzzSplitWindowsCommandLine(f *testing.F) {
	f.Add(`C:\Tools\spec-kitty.exe`, `--spec-kitty-daemon-root=C:\Users\Ann Lee\x`, `a\\"b c`)
	f.Add(`prog`, `"`, `\`)
	f.Fuzz(func(t *testing.T, prog, a, b string) {
		_ = SplitWindowsCommandLine(prog + " " + a + " " + b) // never panics
		// A program name without quotes or blanks, and any arguments
		// without NUL, survive the round trip through os/exec's quoting.
		if prog == "" || strings.ContainsAny(prog, "\" \t\x00") || strings.ContainsRune(a+b, 0) {
			return
		}
		argv := []string{prog, a, b}
		line := joinWindowsCommandLine(argv)
		if got := SplitWindowsCommandLine(line); !slices.Equal(got, argv) {
			t.Fatalf("round trip of %q through %q = %q", argv, line, got)
		}
	})
}
