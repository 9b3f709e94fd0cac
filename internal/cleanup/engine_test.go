//go:build linux

package cleanup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testenv/portlock"
	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

// envChild makes this test binary a bystander process: it only waits to be
// killed. Its argv is whatever the test gives it, so it can wear the sync
// spawn shape. It binds no port, so these tests never touch the reserved
// ranges that live tests serialise on; every case here must fail before the
// engine would dial one.
const envChild = "SPEC_KITTY_CLEANUP_TEST_CHILD"

// envChildIgnoreTerm makes the child ignore SIGTERM, as a daemon stuck in a
// handler would.
const envChildIgnoreTerm = "SPEC_KITTY_CLEANUP_TEST_IGNORE_TERM"

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		if os.Getenv(envChildIgnoreTerm) == "1" {
			signal.Ignore(syscall.SIGTERM)
		}
		for {
			time.Sleep(time.Hour)
		}
	}
	// These tests signal children shaped as daemons of ports 9447-9449 and
	// wait for those ports to close: a live test's daemon there would make
	// them fail, so they take the live tests' lock.
	release, err := portlock.Hold()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	release()
	os.Exit(code)
}

// child starts a real process with argv[1:] = args and returns its identity
// as the OS reports it. It is killed when the test ends.
func child(t *testing.T, args ...string) (procinfo.Identity, *exec.Cmd) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: append([]string{self}, args...), Env: append(os.Environ(), envChild+"=1")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	info, err := procinfo.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return info.Identity(), cmd
}

// spawnShaped is a sync daemon's production argv.
func spawnShaped(port int) []string {
	return []string{"__sync-daemon", "--port=" + strconv.Itoa(port), "--spec-kitty-daemon-root=/nonexistent/scope"}
}

func record(port int, class string) api.IdentityRecord {
	fam := api.FamilySync
	return api.IdentityRecord{Port: port, DaemonFamily: &fam, CleanupClass: class, Reason: api.StaleVersion}
}

// TestEngine_PreSignalChecksFailClosed: every candidate whose pre-signal
// check fails lands in failed[] with a reason, and nothing is sent — the
// process lives and the journal stays empty (SPEC §8).
func TestEngine_PreSignalChecksFailClosed(t *testing.T) {
	live, liveCmd := child(t, spawnShaped(9449)...)
	unshaped, _ := child(t, "serve", "--port=9448")
	gone, goneCmd := child(t, spawnShaped(9447)...)
	_ = goneCmd.Process.Kill()
	waitGone(t, gone.PID)
	dash := api.FamilyDashboard

	tests := []struct {
		name   string
		family string
		cand   Candidate
		want   string
	}{
		{"port just above the range", api.FamilySync,
			Candidate{Record: record(9450, api.ClassSafeAuto), Identity: live}, "outside the sync range"},
		{"port just below the range", api.FamilySync,
			Candidate{Record: record(9399, api.ClassSafeAuto), Identity: live}, "outside the sync range"},
		{"port in the dashboard range", api.FamilySync,
			Candidate{Record: record(9237, api.ClassSafeAuto), Identity: live}, "outside the sync range"},
		{"sync port for the dashboard engine", api.FamilyDashboard,
			Candidate{Record: record(9449, api.ClassSafeAuto), Identity: live}, "outside the dashboard range"},
		{"unknown family", "mystery",
			Candidate{Record: record(9449, api.ClassSafeAuto), Identity: live}, "unknown family"},
		{"dashboard family in the sync range", api.FamilySync,
			Candidate{Record: func() api.IdentityRecord {
				r := record(9449, api.ClassSafeAuto)
				r.DaemonFamily = &dash
				return r
			}(), Identity: live}, `family "dashboard"`},
		{"never_touch", api.FamilySync,
			Candidate{Record: record(9449, api.ClassNeverTouch), Identity: live}, "never acted on"},
		{"recorded singleton", api.FamilySync,
			Candidate{Record: func() api.IdentityRecord {
				r := record(9449, api.ClassSafeAuto)
				r.IsRecordedSingleton = true
				return r
			}(), Identity: live}, "never acted on"},
		{"unknown start time", api.FamilySync,
			Candidate{Record: record(9449, api.ClassSafeAuto), Identity: procinfo.Identity{PID: live.PID}}, "start time) unknown"},
		{"unknown pid", api.FamilySync,
			Candidate{Record: record(9449, api.ClassOperatorRequired), Identity: procinfo.Identity{StartTime: live.StartTime}}, "start time) unknown"},
		{"pid now names a process with another start time", api.FamilySync,
			Candidate{Record: record(9449, api.ClassSafeAuto), Identity: procinfo.Identity{PID: live.PID, StartTime: live.StartTime - 1}, Token: "t"},
			"start time changed"},
		{"process no longer spawn-shaped", api.FamilySync,
			Candidate{Record: record(9448, api.ClassSafeAuto), Identity: unshaped}, "no longer shaped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			journal := filepath.Join(testtmp.Dir(t), "cleanup-journal.jsonl")
			eng := &Engine{Family: tt.family, Actor: "test", Journal: NewJournal(journal)}
			out := eng.Clean(context.Background(), []Candidate{tt.cand})
			if len(out) != 1 || out[0].Swept != nil || out[0].Failed == nil {
				t.Fatalf("outcome %+v, want failed", out)
			}
			f := out[0].Failed
			if !strings.Contains(f.FailureReason, tt.want) || f.Port != tt.cand.Record.Port || f.CleanupClass != tt.cand.Record.CleanupClass {
				t.Errorf("failed %+v, want port %d and a reason containing %q", f, tt.cand.Record.Port, tt.want)
			}
			if entries, err := ReadJournal(journal); err != nil || len(entries) != 0 {
				t.Errorf("journal %+v (%v): something was sent", entries, err)
			}
			for _, id := range []procinfo.Identity{live, unshaped} {
				if ok, _ := procinfo.SameProcess(id); !ok {
					t.Fatalf("bystander %v was hit", id)
				}
			}
		})
	}
	if err := liveCmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("spawn-shaped bystander gone: %v", err)
	}
}

// TestEngine_AllCandidatesAccounted: candidates cleaned together each get
// exactly one outcome, in the order given.
func TestEngine_AllCandidatesAccounted(t *testing.T) {
	live, _ := child(t, spawnShaped(9449)...)
	cands := []Candidate{
		{Record: record(9450, api.ClassSafeAuto), Identity: live},
		{Record: record(9449, api.ClassNeverTouch), Identity: live},
		{Record: record(9448, api.ClassOperatorRequired), Identity: procinfo.Identity{PID: live.PID}},
	}
	eng := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(filepath.Join(testtmp.Dir(t), "j"))}
	var mu sync.Mutex
	told := map[int]int{}
	eng.Progress = func(port int, outcome string) {
		if !strings.HasPrefix(outcome, "failed: ") {
			t.Errorf("progress for port %d: %q", port, outcome)
		}
		mu.Lock() // Clean calls Progress from its goroutines
		told[port]++
		mu.Unlock()
	}
	out := eng.Clean(context.Background(), cands)
	if len(out) != len(cands) {
		t.Fatalf("%d outcomes for %d candidates", len(out), len(cands))
	}
	for i, o := range out {
		if (o.Swept == nil) == (o.Failed == nil) || o.Failed.Port != cands[i].Record.Port {
			t.Errorf("outcome %d = %+v, want one failed entry for port %d", i, o, cands[i].Record.Port)
		}
	}
	if len(told) != len(cands) || told[9450] != 1 || told[9449] != 1 || told[9448] != 1 {
		t.Errorf("progress told %v, want each port once", told)
	}
	if ok, _ := procinfo.SameProcess(live); !ok {
		t.Error("bystander was hit")
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for procinfo.Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
