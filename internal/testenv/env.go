//go:build linux

package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/paths"
)

// runTimeout bounds one CLI invocation in a test.
const runTimeout = 2 * time.Minute

// Env is one test's scope: its own runtime root and environment.
type Env struct {
	t testing.TB
	// Home is the runtime root ($SPEC_KITTY_HOME), symlink-resolved, so it
	// is also the scope id.
	Home string
	// Vars are extra environment variables for every process of this Env.
	Vars map[string]string
}

// New returns an Env with a fresh runtime root. Every process that carries
// its scope marker is killed when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	home, err := paths.ScopeID(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{t: t, Home: home, Vars: map[string]string{}}
	t.Cleanup(func() { KillScope(t, home) })
	return e
}

// Environ is the environment of this Env's processes: the test's own, less
// any SPEC_KITTY_ setting, plus SPEC_KITTY_HOME and Vars.
func (e *Env) Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPEC_KITTY_") {
			env = append(env, kv)
		}
	}
	env = append(env, "SPEC_KITTY_HOME="+e.Home)
	for k, v := range e.Vars {
		env = append(env, k+"="+v)
	}
	return env
}

// Result is one finished CLI invocation.
type Result struct {
	Args   []string
	Stdout string
	Stderr string
	Code   int
}

// Run runs the CLI with args and waits for it.
func (e *Env) Run(args ...string) Result {
	return e.RunWith(nil, "", args...)
}

// RunWith runs the CLI with extra environment variables and stdin.
func (e *Env) RunWith(vars map[string]string, stdin string, args ...string) Result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Bin(), args...)
	cmd.Env = e.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := Result{Args: args, Stdout: out.String(), Stderr: errOut.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("running spec-kitty %v: %v", args, err)
		}
		res.Code = ee.ExitCode()
	}
	return res
}

// MustJSON runs the CLI, requires exit status 0 and decodes stdout into v.
func (e *Env) MustJSON(v any, args ...string) Result {
	e.t.Helper()
	res := e.Run(args...)
	if res.Code != 0 {
		e.t.Fatalf("spec-kitty %v: exit %d\nstdout: %s\nstderr: %s", args, res.Code, res.Stdout, res.Stderr)
	}
	if err := json.Unmarshal([]byte(res.Stdout), v); err != nil {
		e.t.Fatalf("spec-kitty %v: stdout is not JSON: %v\n%s", args, err, res.Stdout)
	}
	return res
}

// Path returns a path under the runtime root.
func (e *Env) Path(elem ...string) string {
	return filepath.Join(append([]string{e.Home}, elem...)...)
}

// ScopeDaemons lists the live processes carrying this Env's scope marker.
func (e *Env) ScopeDaemons() []int {
	return PIDsWithArg(lifecycle.FlagDaemonRoot + e.Home)
}

// ScopeListeners lists the ports of the sync range whose health answer
// names this Env's scope.
func (e *Env) ScopeListeners() []int {
	var out []int
	for _, port := range ListeningPorts(api.SyncRange) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := client.New(port).Health(ctx)
		cancel()
		if err == nil && h.SingletonScopeID == e.Home {
			out = append(out, port)
		}
	}
	return out
}
