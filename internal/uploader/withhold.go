package uploader

import "github.com/spec-kitty/spec-kitty/internal/session"

// MissingPrivateTeam is upstream's category for events withheld because the
// login has no Private Teamspace; the log line carries it so that both
// CLIs' logs can be searched for one word.
const MissingPrivateTeam = "direct_ingress_missing_private_team"

// withhold reports whether events must stay queued because the login has
// no Private Teamspace. Events go only there, as upstream: a private
// event must never land in a shared team, so there is no fallback to the
// default team. Nothing is sent and nothing counts as a failure; the state
// is logged when it starts and when it ends.
func (u *Uploader) withhold(creds session.Credentials) bool {
	none := creds.Team == ""
	if u.withheld.Swap(none) == none {
		return none
	}
	if none {
		u.log.Warn("events withheld: the login has no Private Teamspace, and events go only there",
			"category", MissingPrivateTeam, "principal", creds.Principal, "endpoint", BatchPath)
	} else {
		u.log.Info("uploading again: the login has a Private Teamspace", "team", creds.Team)
	}
	return none
}

// Withheld reports whether the last pass withheld the events because the
// login has no Private Teamspace.
func (u *Uploader) Withheld() bool { return u.withheld.Load() }
