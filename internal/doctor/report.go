package doctor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/probe"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// Commands named by findings and hints.
const (
	CmdReset      = "spec-kitty auth doctor --reset"
	CmdResetForce = "spec-kitty auth doctor --reset --force"
	CmdSyncStart  = "spec-kitty sync start"
	CmdLogin      = "spec-kitty auth login"
	// CmdLogoutForce removes a session without reading it: the way out of
	// one that cannot be read (a login over it is refused without --force).
	CmdLogoutForce = "spec-kitty auth logout --force"
	CmdSyncStatus  = "spec-kitty sync status"
	CmdSyncParked  = "spec-kitty sync parked"
	// CmdRelogin replaces the stored login with a fresh one, which reads
	// the account's teams from the server again.
	CmdRelogin = "spec-kitty auth login --force"
)

// Report builds the `auth doctor` report of a scan. It reads, never writes.
func Report(ctx context.Context, s *Scan) api.DoctorReport {
	rep := api.DoctorReport{
		SchemaVersion:  api.DoctorSchemaVersion,
		GeneratedAt:    time.Now().UTC().Format(time.RFC3339),
		AuthRoot:       s.Layout.Root,
		Orphans:        s.Orphans(),
		OtherListeners: s.Others(),
		Findings:       []api.Finding{},
		Platform:       s.Platform,
	}
	rep.Session, rep.Findings = sessionOf(s, rep.Findings)
	var uploads *api.SyncStatus
	rep.Daemon, uploads = s.daemon(ctx)
	rep.Findings = append(rep.Findings, findings(s, rep)...)
	if uploads != nil {
		if f, ok := UploadsFailing(uploads.UploadStatus, time.Now()); ok {
			rep.Findings = append(rep.Findings, f)
		}
	}
	rep.Findings = append(rep.Findings, s.sourceFindings()...)
	return rep
}

func sessionOf(s *Scan, fs []api.Finding) (api.DoctorSession, []api.Finding) {
	// Describe opens the file as a private secret, as Load does: a FIFO, a
	// symlink or another user's file is an error, never read. It derives
	// the key only when neither the daemon nor a fresh hot-path file can
	// say who is logged in.
	sess, err := session.Describe(s.Layout.SessionFile(), s.heldSession())
	switch {
	case err != nil:
		return api.DoctorSession{}, append(fs, unreadableSession(err))
	case sess == nil:
		return api.DoctorSession{}, append(fs, api.Finding{
			ID: "no_session", Severity: "info", Summary: "not logged in: events stay queued locally",
			Remediation: api.Remediation{Command: CmdLogin},
		})
	}
	if sess.Expired(time.Now()) {
		fs = append(fs, api.Finding{
			ID: "session_expired", Severity: "warning", Summary: "the login has expired: events stay queued locally until you log in again",
			Remediation: api.Remediation{Command: CmdLogin},
		})
	}
	if sess.ServerURL == "" {
		fs = append(fs, api.Finding{
			ID: "no_sync_server", Severity: "warning", Summary: "logged in, but no sync server is configured (" + session.EnvServerURL + " or config.toml [sync].server_url)",
			Remediation: api.Remediation{Command: CmdLogin + " --server URL"},
		})
	}
	if session.PrivateTeam(sess.Teams) == "" {
		fs = append(fs, noPrivateTeamspace(sess.Email))
	}
	return api.DoctorSession{Present: true, ServerURL: &sess.ServerURL, AuthPrincipal: &sess.Email, AuthTeam: &sess.Team}, fs
}

// noPrivateTeamspace is the finding of a login without a Private
// Teamspace: events go only there (as upstream), so the daemon keeps them
// queued rather than send them to a shared team.
func noPrivateTeamspace(principal string) api.Finding {
	return api.Finding{
		ID: "no_private_teamspace", Severity: "warning",
		Summary: "the login of " + principal + " has no Private Teamspace: events stay queued and are not uploaded, " +
			"because they go only to your Private Teamspace, never to a shared team; once your account has one, log in again to read your teams",
		Remediation: api.Remediation{Command: CmdRelogin},
	}
}

// unreadableSession is the finding of a session that cannot be used: the
// way out is logout --force (it removes the files unread), unless the auth
// folder itself is untrusted — then nothing may be written there and the
// folder's own fix comes first.
func unreadableSession(err error) api.Finding {
	f := api.Finding{ID: "session_unreadable", Severity: "error",
		Summary:     err.Error() + "; remove it with " + CmdLogoutForce + ", then run " + CmdLogin,
		Remediation: api.Remediation{Command: CmdLogoutForce},
	}
	var dir *paths.UntrustedError
	if errors.As(err, &dir) {
		f.Summary, f.Remediation.Command = err.Error(), dir.Fix
	}
	return f
}

// heldSession is the token-free summary of the login the recorded daemon
// holds, when that daemon answered health at its port as itself (the pid
// the state file names) and for this scope; nil otherwise.
func (s *Scan) heldSession() *api.SessionSummary {
	if s.Singleton == nil || !s.singletonHealthy {
		return nil
	}
	ev, ok := s.evidence[s.Singleton.Port]
	if !ok || ev.Health == nil || ev.Health.SingletonScopeID != s.Layout.ScopeID() {
		return nil
	}
	return ev.Health.Session
}

// daemon describes the recorded singleton, with its upload status when it
// is healthy.
func (s *Scan) daemon(ctx context.Context) (api.DoctorDaemon, *api.SyncStatus) {
	if s.Singleton == nil {
		return api.DoctorDaemon{}, nil
	}
	rec := *s.Singleton
	d := api.DoctorDaemon{PID: &rec.PID, Port: &rec.Port}
	verdict, h := s.inspect(ctx, rec)
	d.Active = verdict == lifecycle.Healthy
	if h != nil {
		d.PackageVersion, d.ProtocolVersion = &h.PackageVersion, &h.ProtocolVersion
	}
	if d.Active && h != nil {
		return d, h.Sync
	}
	return d, nil
}

// inspect checks the recorded daemon with the answer its port gave the scan
// a moment ago, so a frozen daemon costs the scan's one health timeout and
// not a second one. Only a port the scan did not cover is asked again.
func (s *Scan) inspect(ctx context.Context, rec statefile.Record) (lifecycle.Verdict, *api.Health) {
	if !api.SyncRange.Contains(rec.Port) {
		return lifecycle.Inspect(ctx, s.Layout, rec)
	}
	ev, ok := s.evidence[rec.Port]
	switch {
	case !ok:
		return lifecycle.InspectAnswer(ctx, s.Layout, rec, nil, fmt.Errorf("port %d: %w", rec.Port, probe.ErrNotListening))
	case ev.Health == nil:
		return lifecycle.InspectAnswer(ctx, s.Layout, rec, nil, fmt.Errorf("port %d: %w", rec.Port, probe.ErrNoAnswer))
	}
	return lifecycle.InspectAnswer(ctx, s.Layout, rec, ev.Health, nil)
}

func findings(s *Scan, rep api.DoctorReport) []api.Finding {
	var fs []api.Finding
	for _, n := range s.Notes {
		fs = append(fs, api.Finding{ID: "state_file_unusable", Severity: "warning", Summary: n,
			Remediation: api.Remediation{Command: CmdSyncStart}})
	}
	if counts, err := queue.ReadCounts(s.Layout.QueueDB()); err != nil {
		fs = append(fs, api.Finding{ID: "queue_unreadable", Severity: "warning",
			Summary:     fmt.Sprintf("the event queue cannot be read: %v", err),
			Remediation: api.Remediation{Command: CmdSyncStatus}})
	} else if counts.Parked > 0 {
		fs = append(fs, api.Finding{ID: "parked_events", Severity: "warning",
			Summary:     fmt.Sprintf("%s parked: the server will not take them as they are, so they are not uploaded", Plural(counts.Parked, "queued event")),
			Remediation: api.Remediation{Command: CmdSyncParked}})
	}
	if !rep.Daemon.Active {
		fs = append(fs, api.Finding{ID: "no_active_daemon", Severity: "info",
			Summary:     "no healthy sync daemon is recorded for this scope",
			Remediation: api.Remediation{Command: CmdSyncStart}})
	}
	if s.Singleton != nil && !s.singletonHealthy {
		for _, r := range rep.Orphans {
			if r.PID != nil && *r.PID == s.Singleton.PID {
				fs = append(fs, api.Finding{ID: "recorded_daemon_unhealthy", Severity: "warning",
					Summary: fmt.Sprintf("recorded daemon not healthy: pid %d on port %d does not answer health (%s)",
						s.Singleton.PID, r.Port, r.Reason),
					Remediation: api.Remediation{Command: CmdResetForce}})
			}
		}
	}
	var safe int
	ops := map[string]int{}
	for _, r := range rep.Orphans {
		if r.CleanupClass == api.ClassSafeAuto {
			safe++
		} else {
			ops[deref(r.SkipReason)]++
		}
	}
	if safe > 0 {
		fs = append(fs, api.Finding{ID: "stale_daemons", Severity: "warning",
			Summary:     fmt.Sprintf("%s of this scope can be stopped safely", Plural(safe, "stale sync daemon")),
			Remediation: api.Remediation{Command: CmdReset}})
	}
	if len(ops) > 0 {
		fs = append(fs, api.Finding{ID: "operator_required_daemons", Severity: "warning",
			Summary:     fmt.Sprintf("%s an operator's decision (%s)", PluralVerb(total(ops), "daemon", "needs", "need"), summarize(ops)),
			Remediation: api.Remediation{Command: CmdResetForce}})
	}
	return fs
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func summarize(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ", ")
}
