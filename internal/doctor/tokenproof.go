package doctor

import (
	"context"
	"runtime"
	"sync"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/client"
)

// foldCaseScopes: Windows paths are case-insensitive, so a scope marker
// written as C:\Users\Ann\AppData\Local\spec-kitty names the same scope as
// c:\users\ann\appdata\local\spec-kitty.
const foldCaseScopes = runtime.GOOS == "windows"

// prover asks the listener on a port to prove it holds a token.
type prover func(ctx context.Context, port int, token string) error

// proveTokens runs the token proof (SPEC §7 row 6, §8 Platforms) for every
// listener whose pid the platform could not name and for whose port this
// scope holds a per-instance record: the listener answers an HMAC challenge
// over a fresh nonce, so the token itself is never sent. Proofs run
// concurrently; each is bounded by the client's request timeout.
func proveTokens(ctx context.Context, evs []classify.Evidence, instances map[int]api.InstanceRecord) {
	proveWith(ctx, evs, instances, func(ctx context.Context, port int, token string) error {
		return client.New(port).Prove(ctx, token)
	})
}

func proveWith(ctx context.Context, evs []classify.Evidence, instances map[int]api.InstanceRecord, prove prover) {
	var wg sync.WaitGroup
	for i := range evs {
		ev := &evs[i]
		inst, ok := instances[ev.Port]
		if ev.PID > 0 || !ok || inst.Token == "" || ev.Wedged || !ev.HTTPAnswered {
			continue
		}
		wg.Go(func() { ev.TokenProven = prove(ctx, ev.Port, inst.Token) == nil })
	}
	wg.Wait()
}

// sourceFindings tell the operator that the listener source fell back or
// failed (SPEC §8 Platforms): pids it could not name are missing_pid.
func (s *Scan) sourceFindings() []api.Finding {
	var fs []api.Finding
	for _, n := range s.SourceNotes {
		fs = append(fs, api.Finding{ID: "listener_source_fallback", Severity: "warning", Summary: n,
			Remediation: api.Remediation{Command: "spec-kitty auth doctor --json"}})
	}
	return fs
}
