//go:build linux

package live

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// The operator runbook cannot drift from the program: every command of its
// ```sh blocks runs here, through bash, with the binary of this run first on
// PATH as `spec-kitty` and SPEC_KITTY_HOME set, against real daemons on real
// ports, and must exit as the runbook says.
//
// Each ```sh block is preceded by a marker line
//
//	<!-- runbook: scenario=<name> exit=<status> [check=<name>] [contains="<text>" | contains='<text>'] -->
//
// naming the machine state it runs against (a scenario set up below), the
// exit status of every command in the block, a check of the processes to run
// after the block, and text every command's stdout must contain. A ```sh
// block without a marker, or a marker without a block, fails the test, so no
// command escapes it. Commands are the block's lines (a trailing backslash
// continues a line; blank lines and # comments are skipped). They run with
// pipefail, so a failing spec-kitty is not hidden by the jq after it.

// runbookPath is the operator runbook.
var runbookPath = filepath.Join("..", "..", "docs", "operations", "sync-daemon-orphan-cleanup.md")

// rbTick keeps the scenario's daemons from retiring by themselves (SPEC §9)
// while the runbook's commands run: every survivor and every sweep is the
// commands' doing.
const rbTick = "SPEC_KITTY_DAEMON_TICK_SECONDS=3600"

// rbCommandTimeout bounds one runbook command; the slowest, `--reset
// --force` of a wedged daemon, takes a few seconds.
const rbCommandTimeout = 2 * time.Minute

// rbStep is one command of the runbook.
type rbStep struct {
	Line     int // of the command in the runbook
	Block    int // ordinal of its ```sh block
	Cmd      string
	Scenario string
	Exit     int
	Check    string
	Contains string
}

var (
	rbMarker = regexp.MustCompile(`^<!--\s*runbook:(.*?)-->\s*$`)
	rbAttr   = regexp.MustCompile(`([a-z]+)=("([^"]*)"|'([^']*)'|\S+)`)
)

// parseRunbook returns the runbook's commands in document order.
func parseRunbook(doc string) ([]rbStep, error) {
	var (
		steps   []rbStep
		marker  *rbStep // the marker on the line just before, if any
		inFence string  // the open fence's info string; "" outside a fence
		block   *rbStep // the marked sh block being read
		pending string  // a command continued with a backslash
		start   int
		blocks  int
	)
	sc := bufio.NewScanner(strings.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if inFence != "" {
			if trimmed == "```" {
				if pending != "" {
					return nil, fmt.Errorf("line %d: block ends inside a continued command", n)
				}
				inFence, block = "", nil
				continue
			}
			if block == nil {
				continue
			}
			body := strings.TrimSpace(line)
			if pending == "" && (body == "" || strings.HasPrefix(body, "#")) {
				continue
			}
			if pending == "" {
				start = n
			}
			if cont, ok := strings.CutSuffix(body, `\`); ok {
				pending += cont + " "
				continue
			}
			s := *block
			s.Line, s.Cmd, pending = start, pending+body, ""
			steps = append(steps, s)
			continue
		}
		if m := rbMarker.FindStringSubmatch(trimmed); m != nil {
			if marker != nil {
				return nil, fmt.Errorf("line %d: marker follows a marker with no ```sh block between", n)
			}
			s, err := parseMarker(m[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			marker = &s
			continue
		}
		if info, ok := strings.CutPrefix(trimmed, "```"); ok {
			inFence = "text"
			if info = strings.TrimSpace(info); info != "" {
				inFence = info
			}
			lang, _, _ := strings.Cut(inFence, " ")
			switch {
			case lang == "sh" && marker == nil:
				return nil, fmt.Errorf("line %d: ```sh block without a <!-- runbook: … --> marker on the line before", n)
			case lang != "sh" && marker != nil:
				return nil, fmt.Errorf("line %d: marker is not followed by a ```sh block", n-1)
			}
			if lang == "sh" {
				blocks++
				marker.Block = blocks
			}
			block, marker = marker, nil
			continue
		}
		if marker != nil {
			return nil, fmt.Errorf("line %d: marker is not followed by a ```sh block", n-1)
		}
	}
	switch {
	case inFence != "":
		return nil, fmt.Errorf("unclosed ``` fence")
	case marker != nil:
		return nil, fmt.Errorf("marker at the end of the runbook has no block")
	}
	return steps, sc.Err()
}

func parseMarker(attrs string) (rbStep, error) {
	s := rbStep{Exit: -1}
	for _, m := range rbAttr.FindAllStringSubmatch(attrs, -1) {
		val := m[2]
		switch {
		case strings.HasPrefix(val, `"`):
			val = m[3]
		case strings.HasPrefix(val, "'"):
			val = m[4]
		}
		switch m[1] {
		case "scenario":
			s.Scenario = val
		case "exit":
			n, err := strconv.Atoi(val)
			if err != nil {
				return s, fmt.Errorf("exit=%q is not a number", val)
			}
			s.Exit = n
		case "check":
			s.Check = val
		case "contains":
			s.Contains = val
		default:
			return s, fmt.Errorf("unknown marker attribute %q", m[1])
		}
	}
	if s.Scenario == "" || s.Exit < 0 {
		return s, fmt.Errorf("marker %q needs scenario= and exit=", strings.TrimSpace(attrs))
	}
	return s, nil
}

// TestRunbook_ParserFindsEveryCommand pins the marker grammar, so a broken
// parser cannot make the runbook test pass by finding no commands.
func TestRunbook_ParserFindsEveryCommand(t *testing.T) {
	doc := "text\n<!-- runbook: scenario=a exit=1 check=c contains=\"x y\" -->\n```sh\n# comment\nfoo --bar \\\n  | baz\n\nqux\n```\n```text\nnot a command\n```\n"
	steps, err := parseRunbook(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []rbStep{
		{Line: 5, Block: 1, Cmd: "foo --bar  | baz", Scenario: "a", Exit: 1, Check: "c", Contains: "x y"},
		{Line: 8, Block: 1, Cmd: "qux", Scenario: "a", Exit: 1, Check: "c", Contains: "x y"},
	}
	if !slices.Equal(steps, want) {
		t.Errorf("parsed %+v, want %+v", steps, want)
	}
	for name, bad := range map[string]string{
		"unmarked sh":     "```sh\nfoo\n```\n",
		"orphan marker":   "<!-- runbook: scenario=a exit=0 -->\ntext\n",
		"marker on text":  "<!-- runbook: scenario=a exit=0 -->\n```text\nfoo\n```\n",
		"no exit":         "<!-- runbook: scenario=a -->\n```sh\nfoo\n```\n",
		"unknown attr":    "<!-- runbook: scenario=a exit=0 speed=fast -->\n```sh\nfoo\n```\n",
		"unclosed":        "<!-- runbook: scenario=a exit=0 -->\n```sh\nfoo\n",
		"dangling marker": "<!-- runbook: scenario=a exit=0 -->\n",
	} {
		if _, err := parseRunbook(bad); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// rbFixture is the machine state a scenario's commands run against.
type rbFixture struct {
	env *testenv.Env
	// ports are the listeners the scenario started: `--reset --force`
	// acts on the whole range, so nothing else may be an orphan.
	ports []int
	// checks run after a block whose marker names them.
	checks map[string]func(t *testing.T)
	// final runs after the scenario's last command.
	final func(t *testing.T)
}

// rbScenarios set up the machine each scenario of the runbook describes.
var rbScenarios = map[string]func(t *testing.T) *rbFixture{
	"orphans":      rbOrphans,
	"foreign-user": rbForeignUser,
}

// rbOrphans is the runbook's machine: a healthy recorded daemon of 3.3.0,
// six stale same-scope daemons of 3.2.2–3.2.4 left by upgrades, a daemon
// from before the scope marker, one of another runtime root of the same
// user, a wedged one, and an unrelated web server in the range.
func rbOrphans(t *testing.T) *rbFixture {
	e := testenv.New(t)
	other := testenv.New(t)
	for _, env := range []*testenv.Env{e, other} {
		k, v, _ := strings.Cut(rbTick, "=")
		env.Vars[k] = v
	}
	var single api.StartResult
	e.MustJSON(&single, "sync", "start", "--json")
	ports := testenv.FreePorts(t, api.SyncRange, 10)
	versions := []string{"3.2.2", "3.2.3", "3.2.4"}
	var stale []*testenv.Proc
	for i, port := range ports[:6] {
		v := versions[i%len(versions)]
		stale = append(stale, e.SpawnDaemon(testenv.DaemonOpts{Port: port, Version: v, Exec: "/opt/spec-kitty/" + v + "/bin/spec-kitty"}))
	}
	pre := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[6], Version: "3.2.2", Root: testenv.Ptr("")})
	cross := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[7], Version: "3.2.3", Root: &other.Home, Home: other.Home})
	wedged := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[8], Version: "3.2.4"})
	wedged.Wedge(t)
	web := e.ThirdPartyHTTP(ports[9], "<html>not ours</html>")

	keep := func(t *testing.T, when string, procs ...*testenv.Proc) {
		t.Helper()
		rbAlive(t, when, procs...)
		if !procinfo.Alive(single.PID) {
			t.Errorf("%s: the recorded daemon pid %d is gone", when, single.PID)
		}
	}
	return &rbFixture{
		env:   e,
		ports: append(slices.Clone(ports), single.Port),
		checks: map[string]func(t *testing.T){
			"after-reset": func(t *testing.T) {
				rbGone(t, "after --reset", stale...)
				keep(t, "after --reset", pre, cross, wedged, web)
			},
			"after-cross-root": func(t *testing.T) {
				rbGone(t, "after cleaning the other root", cross)
				keep(t, "after cleaning the other root", pre, wedged, web)
			},
			"after-force": func(t *testing.T) {
				rbGone(t, "after --reset --force", pre, wedged)
				keep(t, "after --reset --force", web)
			},
		},
		final: func(t *testing.T) {
			keep(t, "at the end", web)
			e.Journal()
			other.Journal()
		},
	}
}

// rbForeignUser: another user's sync daemon in the range next to a stale
// one of ours. `--reset --force` stops ours and must fail on theirs.
func rbForeignUser(t *testing.T) *rbFixture {
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the runbook's failed-entry commands need root to start another user's daemon")
		}
		t.Skip("the runbook's failed-entry commands need root to start another user's daemon")
	}
	e := testenv.New(t)
	k, v, _ := strings.Cut(rbTick, "=")
	e.Vars[k] = v
	ports := testenv.FreePorts(t, api.SyncRange, 2)
	theirs, _ := e.SpawnDaemonAs(ports[0], 65534, 65534)
	ours := e.SpawnDaemon(testenv.DaemonOpts{Port: ports[1], Version: "3.2.2"})
	return &rbFixture{
		env:   e,
		ports: ports,
		checks: map[string]func(t *testing.T){
			"after-failed-reset": func(t *testing.T) {
				rbGone(t, "after --reset --force", ours)
				rbAlive(t, "after --reset --force", theirs)
			},
		},
		final: func(t *testing.T) {
			rbAlive(t, "at the end", theirs)
			for _, j := range e.Journal() {
				if j.PID == theirs.PID {
					t.Errorf("the journal shows a request or signal to another user's daemon: %+v", j)
				}
			}
		},
	}
}

func rbAlive(t *testing.T, when string, procs ...*testenv.Proc) {
	t.Helper()
	for _, p := range procs {
		if !p.Alive() {
			t.Errorf("%s: pid %d on port %d is gone, the runbook says it stays", when, p.PID, p.Port)
		}
	}
}

func rbGone(t *testing.T, when string, procs ...*testenv.Proc) {
	t.Helper()
	for _, p := range procs {
		if !testenv.WaitExited(p.PID, 5*time.Second) {
			t.Errorf("%s: pid %d on port %d still runs, the runbook says it is stopped", when, p.PID, p.Port)
		}
	}
}

// TestRunbook_CommandsRunAsDocumented runs every command of the runbook.
func TestRunbook_CommandsRunAsDocumented(t *testing.T) {
	doc, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseRunbook(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", runbookPath, err)
	}
	if len(steps) == 0 {
		t.Fatalf("%s has no ```sh commands", runbookPath)
	}
	requireTools(t, steps)

	bin := t.TempDir()
	if err := os.Symlink(testenv.Bin(), filepath.Join(bin, "spec-kitty")); err != nil {
		t.Fatal(err)
	}
	for _, group := range rbGroups(t, steps) {
		t.Run(group[0].Scenario, func(t *testing.T) { rbRunScenario(t, bin, group) })
	}
}

// requireTools skips the test where a tool the runbook uses (jq, ps) is
// missing, except in CI, where that is a failure: CI must run every command.
func requireTools(t *testing.T, steps []rbStep) {
	t.Helper()
	for _, tool := range []string{"jq", "ps", "xargs"} {
		used := slices.ContainsFunc(steps, func(s rbStep) bool {
			return regexp.MustCompile(`(^|[\s|(])` + tool + `\s`).MatchString(s.Cmd)
		})
		if _, err := exec.LookPath(tool); used && err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the runbook uses %s, which is not on PATH: .ci/run must install it", tool)
			}
			t.Skipf("the runbook uses %s, which is not on PATH", tool)
		}
	}
}

// rbGroups splits the steps into runs of one scenario each. A scenario's
// blocks must be contiguous: each runs against its own fresh machine state,
// torn down before the next.
func rbGroups(t *testing.T, steps []rbStep) [][]rbStep {
	t.Helper()
	var groups [][]rbStep
	seen := map[string]bool{}
	for _, s := range steps {
		if _, ok := rbScenarios[s.Scenario]; !ok {
			t.Fatalf("runbook line %d: unknown scenario %q", s.Line, s.Scenario)
		}
		if n := len(groups); n > 0 && groups[n-1][0].Scenario == s.Scenario {
			groups[n-1] = append(groups[n-1], s)
			continue
		}
		if seen[s.Scenario] {
			t.Fatalf("runbook line %d: scenario %q resumes after another one; keep its blocks together", s.Line, s.Scenario)
		}
		seen[s.Scenario] = true
		groups = append(groups, []rbStep{s})
	}
	return groups
}

func rbRunScenario(t *testing.T, bin string, steps []rbStep) {
	fx := rbScenarios[steps[0].Scenario](t)
	rbGuardRange(t, fx)
	dir := t.TempDir() // the operator's working directory (files like reset.json)
	for _, s := range steps {
		if s.Check != "" && fx.checks[s.Check] == nil {
			t.Fatalf("runbook line %d: scenario %q has no check %q", s.Line, s.Scenario, s.Check)
		}
	}
	for i, s := range steps {
		code, stdout, stderr := rbRun(t, fx.env, bin, dir, s.Cmd)
		t.Logf("runbook line %d: $ %s\n(exit %d)\n%s%s", s.Line, s.Cmd, code, stdout, stderr)
		if code != s.Exit {
			t.Fatalf("runbook line %d: `%s` exited %d, the runbook says %d\nstdout:\n%s\nstderr:\n%s", s.Line, s.Cmd, code, s.Exit, stdout, stderr)
		}
		if s.Contains != "" && !strings.Contains(stdout, s.Contains) {
			t.Errorf("runbook line %d: `%s` printed no %q:\n%s", s.Line, s.Cmd, s.Contains, stdout)
		}
		// A block's check runs once, after its last command.
		if s.Check != "" && (i == len(steps)-1 || steps[i+1].Block != s.Block) {
			fx.checks[s.Check](t)
		}
	}
	fx.final(t)
}

// rbRun runs one command as an operator would: through bash, in dir, with
// the built binary first on PATH and the scenario's environment.
func rbRun(t *testing.T, e *testenv.Env, bin, dir, command string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rbCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(e.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("`%s` did not finish within %v", command, rbCommandTimeout)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running `%s`: %v", command, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errOut.String()
}

// rbGuardRange skips the scenario when the range holds an orphan it did not
// start (another scope's daemon on a shared machine): the runbook's
// `--reset --force` would stop it.
func rbGuardRange(t *testing.T, fx *rbFixture) {
	t.Helper()
	res := fx.env.Run("auth", "doctor", "--json")
	var rep api.DoctorReport
	if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &rep) != nil {
		t.Fatalf("auth doctor --json: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	var foreign []string
	for _, r := range rep.Orphans {
		if !slices.Contains(fx.ports, r.Port) {
			foreign = append(foreign, fmt.Sprintf("%d (%s)", r.Port, r.Reason))
		}
	}
	if len(foreign) > 0 {
		t.Skipf("not running the runbook: its --reset --force would stop daemons this test did not start, on ports %v", foreign)
	}
}
