package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/spawn"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/version"
)

// Spawn-shape names (SPEC §4.1), built from the names the classifier
// recognises.
const (
	SyncDaemonCommand = classify.SyncDaemonArg
	FlagPort          = "--port="
	FlagDaemonRoot    = classify.MarkerFlag + "="
	FlagDaemonExec    = classify.ExecFlag + "="
)

// SyncArgv is the production spawn argv of a sync daemon (without argv[0]).
func SyncArgv(port int, scopeID, exe string) []string {
	return []string{
		SyncDaemonCommand,
		FlagPort + strconv.Itoa(port),
		FlagDaemonRoot + scopeID,
		FlagDaemonExec + exe,
	}
}

// Spawn starts one daemon on the first free port of the sync range, waits
// until it is healthy and holds its token, and writes the state file. The
// caller holds the scope lock.
func Spawn(ctx context.Context, opts Options) (statefile.Record, error) {
	exe := opts.Exe
	if exe == "" {
		var err error
		if exe, err = ResolvedExecutable(); err != nil {
			return statefile.Record{}, err
		}
	}
	scope := opts.Layout.ScopeID()
	token := spawn.NewToken()
	port, pid, err := spawn.FirstFree(ctx, spawn.Request{
		Exe:     exe,
		Args:    func(port int) []string { return SyncArgv(port, scope, exe) },
		Env:     append(os.Environ(), version.EnvCLIVersion+"="+opts.Version),
		LogPath: opts.Layout.LogFile(),
		Range:   api.SyncRange,
		Token:   token,
		Healthy: func(h *api.Health, pid int) bool {
			return h.DaemonFamily == api.FamilySync && h.SingletonScopeID == scope && h.Owner != nil && h.Owner.PID == pid
		},
	})
	if err != nil {
		return statefile.Record{}, err
	}
	rec := statefile.Record{URL: client.URL(port), Port: port, Token: token, PID: pid}
	if err := statefile.Write(opts.Layout.StateFile(), rec); err != nil {
		return rec, fmt.Errorf("recording the daemon: %w", err)
	}
	return rec, nil
}

// ResolvedExecutable returns this binary's path with symlinks resolved.
func ResolvedExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding own executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return exe, nil
}
