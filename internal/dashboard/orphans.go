package dashboard

import (
	"path/filepath"
	"strings"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// Why the startup cleanup leaves a listener alone, or why it is an orphan.
const (
	LeaveOutOfRange   = api.SkipOutOfRange
	LeaveNotDashboard = "not_dashboard"    // no dashboard health answer
	LeaveSyncFamily   = api.SkipSyncFamily // a sync daemon, wherever it listens
	LeaveThirdParty   = api.SkipThirdParty // argv is not a dashboard's
	LeaveMissingPID   = api.SkipMissingPID // the OS did not say who listens
	LeaveOtherUser    = "other_user"       // never signal another user
	LeaveMismatch     = api.SkipPIDPortMismatch
	LeaveBadProject   = "project_unusable"   // argv names no absolute project
	LeaveUnreadable   = "project_unreadable" // cannot tell whether it is recorded
	LeaveRecorded     = api.SkipDashboardNotOrphan
	LeaveProjectBusy  = "project_busy" // another CLI is starting or stopping it
	OrphanProjectGone = "project_gone"
	OrphanNotRecorded = "not_recorded"
)

// flagProjectName is --project without "=", for the `--project v` form.
const flagProjectName = "--project"

// Project is what the project directory named by a dashboard's argv says.
type Project struct {
	// Gone: the directory no longer exists.
	Gone bool
	// Record is the project's .dashboard; nil when it is missing or
	// unusable (it then names no dashboard).
	Record *statefile.Record
	// Err is set when the project could not be read (permissions): nothing
	// can be concluded and the listener is left alone.
	Err error
}

// Decision is the startup cleanup's verdict on one listener.
type Decision struct {
	Port    int
	PID     int
	Project string // from argv; "" when the listener is not a dashboard
	Orphan  bool
	// Reason is why it is an orphan (OrphanProjectGone, OrphanNotRecorded)
	// or why it is left alone (one of the Leave constants).
	Reason string
}

// Decide judges one listener for the dashboard startup cleanup. It is pure:
// the listener's evidence comes from the scan, the project's state from
// lookup. A listener is an orphan only when all of these hold:
//
//   - its port is in the dashboard range;
//   - it identifies as a dashboard twice: health says daemon_family
//     "dashboard" and its argv (read from the OS) is `__dashboard-daemon`;
//   - its pid is known, it is this user's, and the health's owner and
//     project agree with the listener and its argv;
//   - its project directory is gone, or the project's .dashboard does not
//     name it (pid and port).
//
// Everything else — sync daemons, third-party programs, live dashboards of
// any project — is left alone.
func Decide(ev classify.Evidence, uid int, lookup func(project string) Project) Decision {
	d := Decision{Port: ev.Port, PID: ev.PID}
	project, reason := identify(ev, uid)
	if reason != "" {
		d.Reason = reason
		return d
	}
	d.Project = project
	d.Orphan, d.Reason = orphaned(ev, lookup(project))
	return d
}

// identify returns the project of a listener that is provably a dashboard
// daemon of this user, or the reason it is not one to judge.
func identify(ev classify.Evidence, uid int) (project, leave string) {
	h := ev.Health
	switch {
	case !api.DashboardRange.Contains(ev.Port):
		return "", LeaveOutOfRange
	case h != nil && h.DaemonFamily == api.FamilySync:
		return "", LeaveSyncFamily
	case h == nil || h.DaemonFamily != api.FamilyDashboard:
		return "", LeaveNotDashboard
	case !ev.ArgvReadable || !classify.DashboardShape(ev.Argv):
		return "", LeaveThirdParty
	case ev.PID <= 0 || ev.StartTime == 0:
		return "", LeaveMissingPID
	case ev.UID != uid:
		return "", LeaveOtherUser
	case h.Owner != nil && (h.Owner.PID != ev.PID || h.Owner.Port != ev.Port):
		return "", LeaveMismatch
	}
	project, ok := projectOf(ev.Argv)
	switch {
	case !ok || !filepath.IsAbs(project) || filepath.Clean(project) != project:
		return "", LeaveBadProject
	case h.ProjectPath != project:
		return "", LeaveMismatch
	}
	return project, ""
}

// orphaned decides from the project's state.
func orphaned(ev classify.Evidence, p Project) (bool, string) {
	switch {
	case p.Gone:
		return true, OrphanProjectGone
	case p.Err != nil:
		return false, LeaveUnreadable
	case p.Record == nil || p.Record.PID != ev.PID || p.Record.Port != ev.Port:
		return true, OrphanNotRecorded
	}
	return false, LeaveRecorded
}

// projectOf returns the --project value after the signature, in either the
// `--project=v` or the `--project v` form; the last one wins, as it does for
// the daemon's own flag parser.
func projectOf(argv []string) (string, bool) {
	var val string
	found := false
	for i := 2; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			break
		}
		switch {
		case strings.HasPrefix(arg, FlagProject):
			val, found = strings.TrimPrefix(arg, FlagProject), true
		case arg == flagProjectName && i+1 < len(argv):
			i++
			val, found = argv[i], true
		}
	}
	return val, found && val != ""
}
