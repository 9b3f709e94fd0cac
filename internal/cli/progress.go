package cli

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// progress prints a reset's steps for a person on a terminal (stderr): a
// line when each escalation step starts and, for a candidate that took over
// a second, how long it took. Nothing of this is printed for --json or when
// stdout is not a terminal.
type progress struct {
	w     io.Writer
	mu    sync.Mutex
	start time.Time
	now   func() time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, start: time.Now(), now: time.Now}
}

// step is the cleanup engine's Step hook.
func (p *progress) step(port int, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "  port %d: %s\n", port, msg)
}

// done is the cleanup engine's Progress hook.
func (p *progress) done(port int, outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.now().Sub(p.start); d > time.Second {
		outcome += " after " + seconds(d)
	}
	fmt.Fprintf(p.w, "  port %d: %s\n", port, outcome)
}

// seconds renders a duration for a person: "1 s", "2.5 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + " s"
}
