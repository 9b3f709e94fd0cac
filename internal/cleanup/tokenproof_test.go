package cleanup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/testtmp"
)

// TestEngine_TokenProofCandidateIsNeverSignalled: a pid-unknown candidate
// that proved the token is cleaned by the authenticated shutdown only.
// Each case here must fail before anything is sent: no journal line, no
// dial of a reserved port (live tests cover the shutdown itself).
func TestEngine_TokenProofCandidateIsNeverSignalled(t *testing.T) {
	proven := func(port int, class string) Candidate {
		return Candidate{
			Record: api.IdentityRecord{Port: port, CleanupClass: class, IdentitySource: api.SourceTokenProof},
			Token:  "t0ken",
		}
	}
	cases := []struct {
		name string
		c    Candidate
		want string
	}{
		{"outside the range", proven(9450, api.ClassSafeAuto), "outside the sync range"},
		{"dashboard port", proven(9300, api.ClassSafeAuto), "outside the sync range"},
		{"never_touch", proven(9401, api.ClassNeverTouch), "never acted on"},
		{"recorded singleton", func() Candidate {
			c := proven(9401, api.ClassSafeAuto)
			c.Record.IsRecordedSingleton = true
			return c
		}(), "never acted on"},
		{"no token", func() Candidate { c := proven(9401, api.ClassSafeAuto); c.Token = ""; return c }(), "no signal sent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(testtmp.Dir(t), "journal.jsonl")
			e := &Engine{Family: api.FamilySync, Actor: "test", Journal: NewJournal(path)}
			out := e.Clean(context.Background(), []Candidate{tc.c})[0]
			if out.Failed == nil || !strings.Contains(out.Failed.FailureReason, tc.want) {
				t.Fatalf("outcome = %+v, want a failure mentioning %q", out, tc.want)
			}
			if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
				t.Errorf("journal has lines, want none: %s", data)
			}
		})
	}
}

func TestTokenOnly(t *testing.T) {
	rec := api.IdentityRecord{Port: 9401, IdentitySource: api.SourceTokenProof}
	if !tokenOnly(Candidate{Record: rec}) {
		t.Error("pid-unknown token_proof candidate is not token-only")
	}
	rec.IdentitySource = api.SourceHealth
	if tokenOnly(Candidate{Record: rec}) {
		t.Error("a health-identified candidate is token-only")
	}
}
