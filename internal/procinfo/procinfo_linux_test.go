package procinfo

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// exitDeadline bounds how long a test waits for a killed child to change
// state; the kernel does it in microseconds, a loaded CI box in far less
// than this.
const exitDeadline = 5 * time.Second

// startSleeper starts a child that lives until the test kills it. Cleanup
// kills it by its pid handle and reaps it, whatever the test did.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Start returns once execve has begun, but the kernel may not have
	// laid out the new argv yet: wait until /proc shows it.
	eventually(t, "the child's argv is visible", func() bool {
		info, err := Read(cmd.Process.Pid)
		return err == nil && len(info.Argv) > 0 && info.Argv[0] == "sleep"
	})
	return cmd
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(exitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustRead(t *testing.T, pid int) Info {
	t.Helper()
	info, err := Read(pid)
	if err != nil {
		t.Fatalf("Read(%d): %v", pid, err)
	}
	return info
}

func TestRead_ChildArgvStartTimeOwner(t *testing.T) {
	cmd := startSleeper(t)
	info := mustRead(t, cmd.Process.Pid)
	if !info.ArgvReadable || !slices.Equal(info.Argv, []string{"sleep", "30"}) {
		t.Errorf("argv = %q (readable %v), want [sleep 30]", info.Argv, info.ArgvReadable)
	}
	if info.StartTime == 0 {
		t.Error("start time is 0")
	}
	if info.UID != CurrentUID() {
		t.Errorf("uid = %d, want %d", info.UID, CurrentUID())
	}
	if info.Zombie {
		t.Error("a running child is reported as a zombie")
	}
	want, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	if want, err = filepath.EvalSymlinks(want); err != nil {
		t.Fatal(err)
	}
	if info.Exe != want {
		t.Errorf("exe = %q, want %q", info.Exe, want)
	}
	if again := mustRead(t, cmd.Process.Pid); again.StartTime != info.StartTime {
		t.Errorf("start time changed between reads: %d then %d", info.StartTime, again.StartTime)
	}
}

func TestRead_StartTimeOrdersProcesses(t *testing.T) {
	self := mustRead(t, os.Getpid())
	child := mustRead(t, startSleeper(t).Process.Pid)
	if child.StartTime < self.StartTime {
		t.Errorf("child start %d is before parent start %d", child.StartTime, self.StartTime)
	}
}

func TestRead_VanishedPIDIsNotExist(t *testing.T) {
	cmd := startSleeper(t)
	pid := cmd.Process.Pid
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := Read(pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a reaped pid: err = %v, want os.ErrNotExist", err)
	}
	if _, err := ReadOwner(pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadOwner of a reaped pid: err = %v, want os.ErrNotExist", err)
	}
	if Alive(pid) {
		t.Error("Alive is true for a reaped pid")
	}
}

func TestRead_InvalidPID(t *testing.T) {
	for _, pid := range []int{0, -1} {
		if _, err := Read(pid); err == nil {
			t.Errorf("Read(%d) succeeded", pid)
		}
		if Alive(pid) {
			t.Errorf("Alive(%d) is true", pid)
		}
	}
}

// TestRead_OtherUsersProcessIsNotAnError needs a process this user cannot
// inspect; pid 1 is one unless the tests run as root.
func TestRead_OtherUsersProcessIsNotAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read every process")
	}
	info, err := Read(1)
	if err != nil {
		t.Fatalf("Read(1): %v", err)
	}
	if info.Exe != "" {
		t.Errorf("exe of another user's process = %q, want unknown", info.Exe)
	}
}

func TestAlive_ZombieCountsAsExited(t *testing.T) {
	cmd := startSleeper(t)
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Fatal("Alive is false for a running child")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not reaped yet: the child is a zombie until Wait.
	eventually(t, "the killed child is no longer alive", func() bool { return !Alive(pid) })
	if info := mustRead(t, pid); !info.Zombie {
		t.Errorf("unreaped killed child: Zombie = false")
	}
	_ = cmd.Wait()
	if Alive(pid) {
		t.Error("Alive is true after Wait")
	}
}

func TestSameProcess(t *testing.T) {
	cmd := startSleeper(t)
	id := mustRead(t, cmd.Process.Pid).Identity()
	tests := []struct {
		name string
		id   Identity
		want bool
	}{
		{"same pid and start time", id, true},
		{"later start time", Identity{PID: id.PID, StartTime: id.StartTime + 1}, false},
		{"earlier start time", Identity{PID: id.PID, StartTime: id.StartTime - 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SameProcess(tt.id)
			if err != nil || got != tt.want {
				t.Errorf("SameProcess(%v) = %v, %v; want %v, nil", tt.id, got, err, tt.want)
			}
		})
	}
	_ = cmd.Process.Kill()
	eventually(t, "the killed child is a zombie", func() bool { return !Alive(id.PID) })
	if same, err := SameProcess(id); same || err != nil {
		t.Errorf("SameProcess of a zombie = %v, %v; want false, nil", same, err)
	}
	_ = cmd.Wait()
	if same, err := SameProcess(id); same || err != nil {
		t.Errorf("SameProcess of a reaped pid = %v, %v; want false, nil", same, err)
	}
}

func TestPin_ChangedIdentityFails(t *testing.T) {
	cmd := startSleeper(t)
	id := mustRead(t, cmd.Process.Pid).Identity()
	id.StartTime++
	p, err := Pin(id)
	if !errors.Is(err, ErrIdentityChanged) {
		t.Fatalf("Pin(%v) = %v, %v; want ErrIdentityChanged", id, p, err)
	}
	if !Alive(cmd.Process.Pid) {
		t.Error("a failed Pin affected the process")
	}
}

func TestPin_ExitedProcessFails(t *testing.T) {
	cmd := startSleeper(t)
	id := mustRead(t, cmd.Process.Pid).Identity()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if _, err := Pin(id); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Pin of a reaped process: err = %v, want os.ErrProcessDone", err)
	}
}

func TestPin_SignalAndExited(t *testing.T) {
	cmd := startSleeper(t)
	id := mustRead(t, cmd.Process.Pid).Identity()
	p, err := Pin(id)
	if err != nil {
		t.Fatalf("Pin(%v): %v", id, err)
	}
	t.Cleanup(func() { _ = p.Release() })
	if p.Identity() != id {
		t.Errorf("Identity() = %v, want %v", p.Identity(), id)
	}
	if p.Exited() {
		t.Fatal("Exited is true for a running process")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal(SIGTERM): %v", err)
	}
	eventually(t, "the terminated process has exited", p.Exited)
	_ = cmd.Wait()
	if !p.Exited() {
		t.Error("Exited is false after the process was reaped")
	}
	if err := p.Signal(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit: err = %v, want os.ErrProcessDone", err)
	}
}

func TestCurrentUID(t *testing.T) {
	if got := CurrentUID(); got != os.Getuid() {
		t.Errorf("CurrentUID() = %d, want %d", got, os.Getuid())
	}
}

func TestParseStat(t *testing.T) {
	cases := []struct {
		line   string
		start  uint64
		zombie bool
		ok     bool
	}{
		{"1234 (spec-kitty) S 1 1234 1234 0 -1 4194560 1203 0 0 0 3 1 0 0 20 0 6 0 98765 1254 1 18446744073709551615", 98765, false, true},
		// A command name may hold spaces and parentheses: fields count from the last ')'.
		{"77 (a) b (c) d) Z 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0", 4242, true, true},
		{"78 (x) X 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 17 0 0\n", 17, true, true},
		{"79 (x) S 1 2 3", 0, false, false},
		{"80 no parens S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", 0, false, false},
		{"81 (x) S 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 notanumber 0 0", 0, false, false},
		{"", 0, false, false},
	}
	for _, c := range cases {
		st, err := parseStat([]byte(c.line))
		if (err == nil) != c.ok || st.start != c.start || st.zombie != c.zombie {
			t.Errorf("parseStat(%q) = %+v, %v; want start %d zombie %v ok %v", c.line, st, err, c.start, c.zombie, c.ok)
		}
	}
}

// ReadOwner reads the same identity, argv and executable as Read, once,
// and leaves the uid to the caller.
func TestReadOwner_MatchesRead(t *testing.T) {
	cmd := startSleeper(t)
	full := mustRead(t, cmd.Process.Pid)
	got, err := ReadOwner(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got.StartTime != full.StartTime || !slices.Equal(got.Argv, full.Argv) || !got.ArgvReadable ||
		got.Exe != full.Exe || got.Zombie || got.UID != -1 || got.PID != cmd.Process.Pid {
		t.Errorf("ReadOwner = %+v, Read = %+v", got, full)
	}
	if _, err := ReadOwner(0); err == nil {
		t.Error("ReadOwner(0) succeeded")
	}
}
