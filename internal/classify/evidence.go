// Package classify decides, for one listener of the sync port range, which
// cleanup class it belongs to (SPEC §7). It is a pure function: every probe
// happens before it, and it imports nothing that does I/O.
package classify

import "github.com/spec-kitty/spec-kitty/internal/api"

// Evidence is everything probed about one listener.
type Evidence struct {
	// Port is the listening TCP port.
	Port int
	// PID is the owner of the listening socket; 0 when unknown (another
	// user's process, an unreadable /proc, a platform that cannot tell).
	PID int
	// UID is the owner's user id; -1 when unknown.
	UID int
	// StartTime is the process start time as read from the OS (clock ticks
	// since boot on Linux, 100 ns ticks on Windows); 0 when unknown. With PID
	// it is the identity.
	StartTime uint64
	// Argv is the owner's command line; ArgvReadable says whether it could
	// be read at all (an empty argv of a kernel thread is still readable).
	Argv         []string
	ArgvReadable bool
	// Exe is the resolved executable of the owner, when readable.
	Exe string

	// HTTPAnswered is true when anything answered HTTP on the port.
	HTTPAnswered bool
	// Health is the parsed health payload when the answer was one.
	Health *api.Health
	// HealthRawFields lists the top-level keys of the health answer, so
	// a legacy (Python) payload can be recognised by its shape. Keep them
	// even when the typed decode failed: such an answer is still Spec
	// Kitty evidence, just not a live one.
	HealthRawFields []string
	// Wedged is true when the port accepted a connection but no complete
	// answer came back within the probe's timeout.
	Wedged bool

	// TokenProven reports that the listener answered the HMAC challenge
	// for the token of this scope's per-instance record for its port
	// (daemons/<port>.json). Only probed when the pid is unknown.
	TokenProven bool

	// OwnerPresent reports whether daemon/owner.json names this pid/port.
	// Reporting only: it never changes the class.
	OwnerPresent bool
}

// Scope is the foreground scope a classification is made for.
type Scope struct {
	// ID is the scope id (absolute, symlink-resolved runtime root).
	ID string
	// SingletonPID and SingletonPort name the recorded singleton; 0 when
	// the state file names none.
	SingletonPID  int
	SingletonPort int
	// CurrentVersion and CurrentExe describe this CLI, so a safe_auto
	// record can say which stale evidence it carries.
	CurrentVersion string
	CurrentExe     string
	// FoldCase compares scope ids case-insensitively (Windows paths).
	FoldCase bool
}

// Classify returns the identity record of one listener with its cleanup
// class and skip reason, by the first matching row of SPEC §7. The record's
// Reason is the skip reason, or for a safe_auto candidate the stale evidence
// (api.StaleVersion, api.StaleExecutable, api.DuplicateSameVersion). A port
// outside the sync range still gets a (never_touch) record; callers must not
// emit it (SPEC §6).
func Classify(ev Evidence, scope Scope) api.IdentityRecord {
	return classify(ev, scope)
}
