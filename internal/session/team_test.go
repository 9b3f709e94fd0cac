package session

import (
	"testing"
	"time"
)

// Events go only to the Private Teamspace: a login whose teams are all
// shared has none, whatever its default team.
func TestPrivateTeamID_NeverASharedTeam(t *testing.T) {
	st := &Stored{Teams: []Team{{ID: "shared", Name: "S"}}, DefaultTeamID: "shared"}
	if got := st.PrivateTeamID(); got != "" {
		t.Errorf("PrivateTeamID of a shared-only login = %q, want none", got)
	}
	if st.TeamSlug() != "shared" {
		t.Errorf("TeamSlug (shown to the user) = %q, want the default team", st.TeamSlug())
	}
	st.Teams = append(st.Teams, Team{ID: "mine", IsPrivateTeamspace: true})
	if got := st.PrivateTeamID(); got != "mine" {
		t.Errorf("PrivateTeamID = %q, want mine", got)
	}
}

// A CI token's --team is where its events go: its Private Teamspace.
func TestTokenLogin_TeamIsThePrivateTeamspace(t *testing.T) {
	l := TokenLogin{ServerURL: "https://sk.example.com", Email: "ci@example.com", Team: "ci-team", Token: "tok"}
	st, err := l.Stored(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.PrivateTeamID() != "ci-team" || st.DefaultTeamID != "ci-team" {
		t.Errorf("private %q default %q, want ci-team for both", st.PrivateTeamID(), st.DefaultTeamID)
	}
	l.Team = ""
	if st, err = l.Stored(time.Now()); err != nil || st.PrivateTeamID() != "" {
		t.Errorf("without --team: private %q, %v; want none", st.PrivateTeamID(), err)
	}
}
