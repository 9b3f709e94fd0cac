package doctor

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
)

// TestProveTokens_OnlyPIDUnknownListenersWithARecord: the proof is asked
// only of listeners whose pid is unknown and whose port has this scope's
// per-instance record; its answer alone sets TokenProven.
func TestProveTokens_OnlyPIDUnknownListenersWithARecord(t *testing.T) {
	evs := []classify.Evidence{
		{Port: 9401, HTTPAnswered: true},               // proves
		{Port: 9402, HTTPAnswered: true},               // answers with the wrong MAC
		{Port: 9403, PID: 5003, HTTPAnswered: true},    // pid known: no proof needed
		{Port: 9404, HTTPAnswered: true},               // no instance record
		{Port: 9405, HTTPAnswered: true, Wedged: true}, // wedged: nothing to ask
		{Port: 9406}, // never answered HTTP
	}
	inst := map[int]api.InstanceRecord{}
	for _, p := range []int{9401, 9402, 9403, 9405, 9406} {
		inst[p] = api.InstanceRecord{Port: p, PID: 5000 + p, Token: "tok"}
	}
	var mu sync.Mutex
	asked := map[int]bool{}
	proveWith(context.Background(), evs, inst, func(_ context.Context, port int, token string) error {
		mu.Lock()
		asked[port] = true
		mu.Unlock()
		if token != "tok" {
			t.Errorf("port %d asked with token %q", port, token)
		}
		if port == 9402 {
			return errors.New("daemon does not hold the recorded token")
		}
		return nil
	})
	for _, ev := range evs {
		if want := ev.Port == 9401; ev.TokenProven != want {
			t.Errorf("port %d: TokenProven = %v, want %v", ev.Port, ev.TokenProven, want)
		}
		if want := ev.Port == 9401 || ev.Port == 9402; asked[ev.Port] != want {
			t.Errorf("port %d: asked = %v, want %v", ev.Port, asked[ev.Port], want)
		}
	}
}

// TestCandidate_TokenProofCarriesTheToken: a token-proven record becomes a
// candidate with the token for the shutdown and the instance record's pid
// for the report only; its identity stays unknown, so nothing can be
// signalled. A pid-unknown record without the proof gets no token at all.
func TestCandidate_TokenProofCarriesTheToken(t *testing.T) {
	s := &Scan{
		evidence:  map[int]classify.Evidence{9401: {Port: 9401}, 9402: {Port: 9402}},
		instances: map[int]api.InstanceRecord{9401: {Port: 9401, PID: 5001, Token: "a"}, 9402: {Port: 9402, PID: 5002, Token: "b"}},
	}
	c := s.candidate(api.IdentityRecord{Port: 9401, IdentitySource: api.SourceTokenProof, CleanupClass: api.ClassSafeAuto})
	if c.Token != "a" || c.ReportedPID != 5001 || c.Identity.PID != 0 || c.Identity.StartTime != 0 {
		t.Errorf("token-proven candidate = %+v, want token a, reported pid 5001, no identity", c)
	}
	c = s.candidate(api.IdentityRecord{Port: 9402, IdentitySource: api.SourceHealth, CleanupClass: api.ClassOperatorRequired})
	if c.Token != "" || c.ReportedPID != 0 {
		t.Errorf("unproven pid-unknown candidate = %+v, want no token", c)
	}
}
