package procinfo

import "strings"

// SplitWindowsCommandLine splits a Windows command line into argv the way
// the C runtime and CommandLineToArgvW do, so that the spawn markers a
// daemon was started with read back exactly (drive letters, spaces, quotes,
// trailing backslashes). It is a pure function, built on every platform so
// that it is tested everywhere.
//
// The program name follows its own rule: inside quotes it runs to the next
// quote with no escapes, otherwise to the first blank. Every later argument
// follows the escape rules: 2n backslashes before a quote are n backslashes
// and the quote opens or closes a quoted run; 2n+1 are n backslashes and a
// literal quote; backslashes before anything else are literal; inside a
// quoted run a doubled quote is a literal quote.
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
	var b strings.Builder
	inQuote := false
	slashes := 0
	flush := func(n int) {
		b.WriteString(strings.Repeat(`\`, n))
	}
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\':
			slashes++
			continue
		case c == '"':
			flush(slashes / 2)
			if slashes%2 == 1 {
				b.WriteByte('"')
			} else if inQuote && i+1 < len(cmd) && cmd[i+1] == '"' {
				b.WriteByte('"')
				i++
			} else {
				inQuote = !inQuote
			}
			slashes = 0
			continue
		case (c == ' ' || c == '\t') && !inQuote:
			flush(slashes)
			return b.String(), cmd[i+1:]
		}
		flush(slashes)
		slashes = 0
		b.WriteByte(c)
	}
	flush(slashes)
	return b.String(), ""
}
