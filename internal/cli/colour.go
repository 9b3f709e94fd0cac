package cli

import (
	"os"
	"strings"

	"github.com/fatih/color"
)

// Colour marks what a person should look at first — an error, a warning, a
// daemon the reset will stop — on a terminal only. fatih/color writes the
// escape sequences and, on Windows, switches the console to understand
// them; whether to colour is decided here, per stream, so that output that
// is piped, redirected or under NO_COLOR (any non-empty value, as
// no-color.org says) never carries an escape sequence.

// colourWanted reports whether a terminal stream may be coloured: not when
// NO_COLOR is set to anything, nor on a terminal that declares it cannot
// (TERM=dumb).
func colourWanted() bool {
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// palette colours words for one stream; the zero palette leaves them as
// they are.
type palette struct{ on bool }

// outPalette is the palette of ios's stdout.
func outPalette(ios *IOStreams) palette { return palette{on: ios.OutTTY && ios.Color} }

func (p palette) paint(s string, attrs ...color.Attribute) string {
	if !p.on || s == "" {
		return s
	}
	c := color.New(attrs...)
	c.EnableColor() // the decision was made above, not by the library's global
	return c.Sprint(s)
}

// severity colours a finding's severity: error red, warning yellow, info
// cyan.
func (p palette) severity(s string) string {
	switch s {
	case "error":
		return p.paint(s, color.FgRed, color.Bold)
	case "warning":
		return p.paint(s, color.FgYellow, color.Bold)
	case "info":
		return p.paint(s, color.FgCyan)
	}
	return s
}

// level colours a log level as severity does a finding's.
func (p palette) level(s string) string {
	switch strings.ToUpper(s) {
	case "ERROR":
		return p.paint(s, color.FgRed, color.Bold)
	case "WARN", "WARNING":
		return p.paint(s, color.FgYellow, color.Bold)
	case "INFO":
		return p.paint(s, color.FgCyan)
	case "DEBUG":
		return p.paint(s, color.Faint)
	}
	return s
}

// class colours a cleanup class by what a reset does with it: safe_auto is
// stopped (yellow), operator_required needs a decision (red), never_touch
// is left alone (green).
func (p palette) class(s string) string {
	switch s {
	case "safe_auto":
		return p.paint(s, color.FgYellow)
	case "operator_required":
		return p.paint(s, color.FgRed)
	case "never_touch":
		return p.paint(s, color.FgGreen)
	}
	return s
}

// good and bad colour a state: healthy green, anything else red.
func (p palette) good(s string) string { return p.paint(s, color.FgGreen) }
func (p palette) bad(s string) string  { return p.paint(s, color.FgRed, color.Bold) }
