package cli

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestWatchSignals_SecondInterruptExitsAtOnce: the first interrupt cancels
// the command's context; the second exits with 130 without waiting for the
// command (issue 12 defect 2).
func TestWatchSignals_SecondInterruptExitsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go watchSignals(sigs, cancel, func(code int) { exited <- code })

	sigs <- os.Interrupt
	<-ctx.Done()
	select {
	case code := <-exited:
		t.Fatalf("exited with %d after one interrupt", code)
	default:
	}
	sigs <- os.Interrupt
	select {
	case code := <-exited:
		if code != ExitInterrupted {
			t.Errorf("exit status %d, want %d", code, ExitInterrupted)
		}
	case <-time.After(time.Minute): // a bound against a hang, not a speed check
		t.Fatal("the second interrupt did not exit")
	}
}

// TestProgress_ElapsedOnlyOverASecond: the progress writer adds the elapsed
// time to a finished candidate only when it took over a second.
func TestProgress_ElapsedOnlyOverASecond(t *testing.T) {
	var buf stringsBuilder
	p := newProgress(&buf)
	now := p.start
	p.now = func() time.Time { return now }
	p.step(9415, "no answer to shutdown; sending SIGTERM")
	now = p.start.Add(500 * time.Millisecond)
	p.done(9415, "stopped (terminate)")
	now = p.start.Add(2500 * time.Millisecond)
	p.done(9416, "stopped (kill)")
	want := "  port 9415: no answer to shutdown; sending SIGTERM\n" +
		"  port 9415: stopped (terminate)\n" +
		"  port 9416: stopped (kill) after 2.5 s\n"
	if buf.String() != want {
		t.Errorf("progress wrote\n%s\nwant\n%s", buf.String(), want)
	}
}

type stringsBuilder struct{ b []byte }

func (s *stringsBuilder) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *stringsBuilder) String() string              { return string(s.b) }
