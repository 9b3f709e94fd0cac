package procinfo

import "strings"

// SplitWindowsCommandLine splits a Windows command line into argv exactly as
// CommandLineToArgvW does, so that the spawn markers a daemon was started
// with read back as the OS reads them (drive letters, spaces, quotes,
// trailing backslashes). It is a pure function, built on every platform so
// that it is tested everywhere; on Windows a test checks it against the OS
// (windows.DecomposeCommandLine).
//
// The program name follows its own rule: inside quotes it runs to the next
// quote with no escapes, otherwise to the first blank. Every later argument
// follows the escape rules: 2n backslashes before a quote are n backslashes
// and the quote counts towards a quoted run; 2n+1 are n backslashes and a
// literal quote; backslashes before anything else are literal. A run of
// quotes is counted as CommandLineToArgvW counts it, which is not the rule
// of the C runtime since 2008: every third quote of a run is a literal quote
// and leaves the quoted run, so inside quotes "" is a literal quote that
// also ends the run (`"""Call Me Ishmael"""` is three arguments there, one
// for the C runtime).
func SplitWindowsCommandLine(cmd string) []string {
	if strings.TrimLeft(cmd, " \t") == "" {
		return nil
	}
	name, rest := programName(cmd)
	args := []string{name}
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return args
		}
		var arg string
		arg, rest = nextWindowsArg(rest)
		args = append(args, arg)
	}
}

func programName(cmd string) (name, rest string) {
	if strings.HasPrefix(cmd, `"`) {
		if end := strings.IndexByte(cmd[1:], '"'); end >= 0 {
			return cmd[1 : 1+end], cmd[2+end:]
		}
		return cmd[1:], ""
	}
	if end := strings.IndexAny(cmd, " \t"); end >= 0 {
		return cmd[:end], cmd[end+1:]
	}
	return cmd, ""
}

func nextWindowsArg(cmd string) (arg, rest string) {
	b := make([]byte, 0, len(cmd))
	quotes := 0 // quotes counted in the current run: 1 means inside a quoted run
	slashes := 0
	for i := 0; i < len(cmd); {
		c := cmd[i]
		switch {
		case (c == ' ' || c == '\t') && quotes == 0:
			return string(b), cmd[i+1:]
		case c == '\\':
			b = append(b, c)
			slashes++
			i++
		case c == '"':
			b = b[:len(b)-slashes/2] // 2n or 2n+1 backslashes: n are kept
			if slashes%2 == 1 {
				b[len(b)-1] = '"' // the odd backslash escapes the quote
			} else {
				quotes++
			}
			slashes = 0
			for i++; i < len(cmd) && cmd[i] == '"'; i++ {
				if quotes++; quotes == 3 {
					b = append(b, '"')
					quotes = 0
				}
			}
			if quotes == 2 {
				quotes = 0
			}
		default:
			b = append(b, c)
			slashes = 0
			i++
		}
	}
	return string(b), ""
}
