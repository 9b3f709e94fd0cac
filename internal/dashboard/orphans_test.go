package dashboard

import (
	"errors"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

const (
	testUID     = 1000
	testPID     = 4321
	testPort    = 9240
	testProject = "/home/u/proj"
)

// liveDashboard is the evidence of a healthy dashboard daemon of testProject.
func liveDashboard() classify.Evidence {
	return classify.Evidence{
		Port: testPort, PID: testPID, UID: testUID, StartTime: 777,
		Argv:         []string{"/usr/bin/spec-kitty", DaemonCommand, "--port=9240", FlagProject + testProject},
		ArgvReadable: true,
		HTTPAnswered: true,
		Health: &api.Health{
			Status: "ok", DaemonFamily: api.FamilyDashboard, ProtocolVersion: 1, PackageVersion: "3.3.0",
			ProjectPath: testProject, Owner: &api.Owner{PID: testPID, Port: testPort},
		},
	}
}

func recorded(pid, port int) Project {
	return Project{Record: &statefile.Record{URL: "http://127.0.0.1:9240", Port: port, Token: "t", PID: pid}}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*classify.Evidence)
		project    Project
		wantOrphan bool
		wantReason string
	}{
		{"recorded by its project is live", nil, recorded(testPID, testPort), false, LeaveRecorded},
		{"project directory gone", nil, Project{Gone: true}, true, OrphanProjectGone},
		{"project has no .dashboard", nil, Project{}, true, OrphanNotRecorded},
		{"record names another pid", nil, recorded(testPID+1, testPort), true, OrphanNotRecorded},
		{"record names another port", nil, recorded(testPID, testPort+1), true, OrphanNotRecorded},
		{"project unreadable", nil, Project{Err: errors.New("permission denied")}, false, LeaveUnreadable},
		{"port below the range", func(ev *classify.Evidence) { ev.Port = 9236 }, Project{Gone: true}, false, LeaveOutOfRange},
		{"port above the range", func(ev *classify.Evidence) { ev.Port = 9337 }, Project{Gone: true}, false, LeaveOutOfRange},
		{"port in the sync range", func(ev *classify.Evidence) { ev.Port = 9400 }, Project{Gone: true}, false, LeaveOutOfRange},
		{"first port of the range", func(ev *classify.Evidence) { ev.Port, ev.Health.Owner.Port = 9237, 9237 }, Project{Gone: true}, true, OrphanProjectGone},
		{"last port of the range", func(ev *classify.Evidence) { ev.Port, ev.Health.Owner.Port = 9336, 9336 }, Project{Gone: true}, true, OrphanProjectGone},
		{"sync daemon in the dashboard range", func(ev *classify.Evidence) {
			ev.Health.DaemonFamily = api.FamilySync
			ev.Argv = []string{"/usr/bin/spec-kitty", classify.SyncDaemonArg, "--port=9240"}
		}, Project{Gone: true}, false, LeaveSyncFamily},
		{"no health answer", func(ev *classify.Evidence) { ev.Health = nil }, Project{Gone: true}, false, LeaveNotDashboard},
		{"wedged", func(ev *classify.Evidence) { ev.Health, ev.Wedged = nil, true }, Project{Gone: true}, false, LeaveNotDashboard},
		{"health without family (legacy sync)", func(ev *classify.Evidence) { ev.Health.DaemonFamily = "" }, Project{Gone: true}, false, LeaveNotDashboard},
		{"dashboard health from a third-party argv", func(ev *classify.Evidence) {
			ev.Argv = []string{"python3", "-m", "http.server", "9240"}
		}, Project{Gone: true}, false, LeaveThirdParty},
		{"dashboard argv as a later argument only", func(ev *classify.Evidence) {
			ev.Argv = []string{"/bin/sh", "-c", "x", DaemonCommand}
		}, Project{Gone: true}, false, LeaveThirdParty},
		{"argv unreadable", func(ev *classify.Evidence) { ev.Argv, ev.ArgvReadable = nil, false }, Project{Gone: true}, false, LeaveThirdParty},
		{"pid unknown", func(ev *classify.Evidence) { ev.PID = 0 }, Project{Gone: true}, false, LeaveMissingPID},
		{"start time unknown", func(ev *classify.Evidence) { ev.StartTime = 0 }, Project{Gone: true}, false, LeaveMissingPID},
		{"another user's dashboard", func(ev *classify.Evidence) { ev.UID = 0 }, Project{Gone: true}, false, LeaveOtherUser},
		{"health owner is another pid", func(ev *classify.Evidence) { ev.Health.Owner.PID = 1 }, Project{Gone: true}, false, LeaveMismatch},
		{"health owner is another port", func(ev *classify.Evidence) { ev.Health.Owner.Port = 9241 }, Project{Gone: true}, false, LeaveMismatch},
		{"health names another project", func(ev *classify.Evidence) { ev.Health.ProjectPath = "/home/u/other" }, Project{Gone: true}, false, LeaveMismatch},
		{"argv without project", func(ev *classify.Evidence) { ev.Argv = ev.Argv[:3] }, Project{Gone: true}, false, LeaveBadProject},
		{"relative project", func(ev *classify.Evidence) {
			ev.Argv[3], ev.Health.ProjectPath = FlagProject+"proj", "proj"
		}, Project{Gone: true}, false, LeaveBadProject},
		{"unclean project path", func(ev *classify.Evidence) {
			ev.Argv[3], ev.Health.ProjectPath = FlagProject+"/home/u/../u/proj", "/home/u/../u/proj"
		}, Project{Gone: true}, false, LeaveBadProject},
		{"project in the two-argument form", func(ev *classify.Evidence) {
			ev.Argv = append(ev.Argv[:3], "--project", testProject)
		}, Project{Gone: true}, true, OrphanProjectGone},
		{"health without owner still judged by argv", func(ev *classify.Evidence) { ev.Health.Owner = nil }, Project{}, true, OrphanNotRecorded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := liveDashboard()
			if tt.edit != nil {
				tt.edit(&ev)
			}
			looked := ""
			d := Decide(ev, testUID, func(p string) Project { looked = p; return tt.project })
			if d.Orphan != tt.wantOrphan || d.Reason != tt.wantReason {
				t.Fatalf("Decide = orphan %v reason %q, want orphan %v reason %q", d.Orphan, d.Reason, tt.wantOrphan, tt.wantReason)
			}
			if d.Port != ev.Port || d.PID != ev.PID {
				t.Errorf("Decide names port %d pid %d, want %d %d", d.Port, d.PID, ev.Port, ev.PID)
			}
			if d.Project != "" && looked != d.Project {
				t.Errorf("looked up %q, decided for %q", looked, d.Project)
			}
		})
	}
}

// TestDecide_NeverLooksUpWhatIsNotADashboard: the project of a listener
// that is not provably a dashboard is never read, so nothing about it can
// turn it into an orphan.
func TestDecide_NeverLooksUpWhatIsNotADashboard(t *testing.T) {
	ev := liveDashboard()
	ev.Argv = []string{"nginx"}
	d := Decide(ev, testUID, func(string) Project {
		t.Fatal("looked up the project of a third-party listener")
		return Project{}
	})
	if d.Orphan || d.Project != "" {
		t.Fatalf("Decide = %+v, want a listener left alone with no project", d)
	}
}

func TestProjectOf(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want string
		ok   bool
	}{
		{"equals form", []string{"sk", DaemonCommand, "--port=1", "--project=/a"}, "/a", true},
		{"two-argument form", []string{"sk", DaemonCommand, "--project", "/b"}, "/b", true},
		{"last one wins", []string{"sk", DaemonCommand, "--project=/a", "--project=/c"}, "/c", true},
		{"stops at --", []string{"sk", DaemonCommand, "--", "--project=/a"}, "", false},
		{"empty value", []string{"sk", DaemonCommand, "--project="}, "", false},
		{"missing", []string{"sk", DaemonCommand, "--port=1"}, "", false},
		{"argv[0] and signature are not flags", []string{"--project=/x", "--project=/y"}, "", false},
		{"dangling two-argument form", []string{"sk", DaemonCommand, "--project"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := projectOf(tt.argv)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("projectOf(%q) = %q, %v; want %q, %v", tt.argv, got, ok, tt.want, tt.ok)
			}
		})
	}
}
