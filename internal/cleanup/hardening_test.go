//go:build linux

package cleanup

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

// TestEngine_ExitedBeforeAnythingSentIsSkipped: a candidate that is gone
// before the first step needs nothing; it is skipped "exited", not failed
// (SPEC §8, issue 12 defect 13).
func TestEngine_ExitedBeforeAnythingSentIsSkipped(t *testing.T) {
	gone, goneCmd := child(t, spawnShaped(9447)...)
	_ = goneCmd.Process.Kill()
	waitGone(t, gone.PID)
	journal := filepath.Join(testtmp.Dir(t), "cleanup-journal.jsonl")
	eng := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(journal)}
	out := eng.Clean(context.Background(), []Candidate{{Record: record(9447, api.ClassSafeAuto), Identity: gone}})
	if out[0].Skipped == nil || out[0].Skipped.SkipReason != api.SkipExited || out[0].Failed != nil {
		t.Fatalf("outcome %+v, want skipped with skip_reason exited", out[0])
	}
	if entries, _ := ReadJournal(journal); len(entries) != 0 {
		t.Errorf("journal %+v: something was sent to an exited process", entries)
	}
}

// TestEngine_UnwritableJournalSendsNothing: when the intent line cannot be
// written, the candidate fails "journal not writable" and no signal goes
// out (audit before action, SPEC §8).
func TestEngine_UnwritableJournalSendsNothing(t *testing.T) {
	live, _ := child(t, spawnShaped(9449)...)
	dir := testtmp.Dir(t)
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eng := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(filepath.Join(notDir, "cleanup-journal.jsonl"))}
	out := eng.Clean(context.Background(), []Candidate{{Record: record(9449, api.ClassSafeAuto), Identity: live}})
	if out[0].Failed == nil || !strings.Contains(out[0].Failed.FailureReason, "journal not writable") {
		t.Fatalf("outcome %+v, want failed: journal not writable", out[0])
	}
	if ok, _ := procinfo.SameProcess(live); !ok {
		t.Fatal("a signal went out although the journal could not record it")
	}
}

// TestEngine_IntentLineBeforeSignal: each step's intent line is on disk
// before the signal, and its outcome after.
func TestEngine_IntentLineBeforeSignal(t *testing.T) {
	live, _ := child(t, spawnShaped(9449)...)
	journal := filepath.Join(testtmp.Dir(t), "cleanup-journal.jsonl")
	eng := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(journal), TerminateWait: time.Nanosecond, KillWait: time.Nanosecond}
	var seen []string
	eng.Step = func(port int, msg string) {
		entries, _ := ReadJournal(journal)
		seen = append(seen, msg)
		for _, e := range entries {
			if e.Outcome == OutcomeIntent && strings.Contains(msg, "SIGKILL") && e.Step == api.PathKill {
				t.Errorf("kill intent written before the step was announced")
			}
		}
	}
	eng.Clean(context.Background(), []Candidate{{Record: record(9449, api.ClassSafeAuto), Identity: live}})
	entries, err := ReadJournal(journal)
	if err != nil || len(entries) < 2 {
		t.Fatalf("journal %+v (%v), want an intent and an outcome line", entries, err)
	}
	if entries[0].Step != api.PathTerminate || entries[0].Outcome != OutcomeIntent || entries[1].Step != api.PathTerminate || entries[1].Outcome != "sent" {
		t.Errorf("journal %+v, want terminate intent then terminate sent", entries[:2])
	}
	if len(seen) == 0 || seen[0] != "sending SIGTERM" {
		t.Errorf("step lines %q, want the first to be \"sending SIGTERM\"", seen)
	}
}

// TestEngine_InterruptStopsEscalation: an interrupt during a wait starts no
// further step; the candidate fails "interrupted" and is never killed
// (SPEC §8, issue 12 defect 6).
func TestEngine_InterruptStopsEscalation(t *testing.T) {
	t.Setenv(envChildIgnoreTerm, "1")
	live, _ := child(t, spawnShaped(9449)...)
	waitIgnoresTerm(t, live.PID)
	journal := filepath.Join(testtmp.Dir(t), "cleanup-journal.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(journal), TerminateWait: time.Hour}
	go func() {
		for ctx.Err() == nil { // cancel once SIGTERM has gone out
			if entries, _ := ReadJournal(journal); len(entries) >= 2 {
				cancel()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	out := eng.Clean(ctx, []Candidate{{Record: record(9449, api.ClassSafeAuto), Identity: live}})
	if out[0].Failed == nil || out[0].Failed.FailureReason != FailInterrupted {
		t.Fatalf("outcome %+v, want failed: interrupted", out[0])
	}
	if ok, _ := procinfo.SameProcess(live); !ok {
		t.Fatal("the candidate was killed after the interrupt")
	}
	entries, _ := ReadJournal(journal)
	for _, e := range entries {
		if e.Step == api.PathKill {
			t.Errorf("journal %+v: a kill step after the interrupt", entries)
		}
	}

	// Already interrupted: nothing at all is sent.
	out = eng.Clean(ctx, []Candidate{{Record: record(9449, api.ClassSafeAuto), Identity: live}})
	if out[0].Failed == nil || out[0].Failed.FailureReason != FailInterrupted {
		t.Fatalf("outcome after interrupt %+v, want failed: interrupted", out[0])
	}
}

// TestPortClosed_OnlyARefusalCounts: a listener whose backlog is full lets
// a connect time out; that port is still held, not closed (issue 12
// defect 4). The listener is on an ephemeral port, outside the reserved
// ranges.
func TestPortClosed_OnlyARefusalCounts(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the backlog until a connect is no longer completed.
	full := false
	for range 64 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("filling the backlog: %v", err)
			}
			full = true
			break
		}
		defer c.Close()
	}
	if !full {
		t.Fatal("the backlog never filled")
	}
	if portClosed(port) {
		t.Error("portClosed = true for a listener with a full backlog")
	}
	syscall.Close(fd)
	if !portClosed(port) {
		t.Error("portClosed = false for a closed port")
	}
}

// waitIgnoresTerm waits until pid has set SIGTERM to ignored (SigIgn in
// /proc/<pid>/status), so the test's SIGTERM cannot race its start-up.
func waitIgnoresTerm(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, line := range strings.Split(string(data), "\n") {
			if hex, ok := strings.CutPrefix(line, "SigIgn:"); ok {
				mask, _ := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
				if mask&(1<<(uint(syscall.SIGTERM)-1)) != 0 {
					return
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("pid %d never ignored SIGTERM", pid)
}

// TestEngine_InterruptAfterTheCheckSendsNothing: an interrupt that comes in
// after the pre-step check but before the signal (here: while the step is
// being announced) starts no step — no signal, no intent line — and the
// candidate fails "interrupted" (SPEC §8).
func TestEngine_InterruptAfterTheCheckSendsNothing(t *testing.T) {
	live, _ := child(t, spawnShaped(9449)...)
	journal := filepath.Join(testtmp.Dir(t), "cleanup-journal.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(journal), TerminateWait: time.Hour}
	eng.Step = func(int, string) { cancel() }
	out := eng.Clean(ctx, []Candidate{{Record: record(9449, api.ClassSafeAuto), Identity: live}})
	if out[0].Failed == nil || out[0].Failed.FailureReason != FailInterrupted {
		t.Errorf("outcome %+v, want failed: interrupted", out[0])
	}
	if ok, _ := procinfo.SameProcess(live); !ok {
		t.Fatal("SIGTERM went out after the interrupt")
	}
	if entries, _ := ReadJournal(journal); len(entries) != 0 {
		t.Errorf("journal %+v, want nothing: no step was started", entries)
	}
}

// TestEngine_NoJournalSendsNothing: an engine without a journal cannot audit
// a signal, so it sends none (audit before action fails closed).
func TestEngine_NoJournalSendsNothing(t *testing.T) {
	live, _ := child(t, spawnShaped(9449)...)
	eng := &Engine{Family: api.FamilySync, Actor: "test", TerminateWait: time.Nanosecond, KillWait: time.Nanosecond}
	out := eng.Clean(context.Background(), []Candidate{{Record: record(9449, api.ClassSafeAuto), Identity: live}})
	if out[0].Failed == nil || !strings.Contains(out[0].Failed.FailureReason, "journal not writable") {
		t.Errorf("outcome %+v, want failed: journal not writable", out[0])
	}
	if ok, _ := procinfo.SameProcess(live); !ok {
		t.Fatal("a signal went out with no journal to record it")
	}
}
