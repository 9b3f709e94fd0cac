package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/probe"
)

// The help topics of SPEC §12: commands without a Run, so cobra lists them
// under "Additional help topics" and `spec-kitty help <topic>` prints them.

func newEnvironmentTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "environment",
		Short: "Environment variables spec-kitty reads",
		Long: `Environment variables (each is also passed to the daemons spec-kitty starts):

  SPEC_KITTY_HOME
      The runtime root: state file, lock, log, queue, session.
      Default: ~/.spec-kitty (on Windows %LOCALAPPDATA%\spec-kitty).
  SPEC_KITTY_CLI_VERSION
      The version this process, and every daemon it spawns, reports.
      Default: the build's version (spec-kitty version).
  SPEC_KITTY_SAAS_URL
      The sync server: where 'auth login' logs in (unless --server is
      given) and where the daemon sends events, read when it starts.
      Default: unset (login: [sync].server_url of config.toml in the
      runtime root; the daemon: the server the login recorded, else that).
  SPEC_KITTY_SYNC_DISABLE
      Set to 1 to skip starting the sync daemon implicitly.
      Default: unset (commands that need sync start it).
  SPEC_KITTY_DAEMON_TICK_SECONDS
      How often a sync daemon checks whether to retire.
      Default: 30 seconds.
  SPEC_KITTY_IDLE_RETIREMENT_SECONDS
      How long a sync daemon with no queued work and no authenticated
      request waits before it exits on its own.
      Default: 900 seconds (15 minutes).
  NO_COLOR
      Set to any non-empty value for no colour, whatever the terminal
      (no-color.org). Colour is only ever used on a terminal: piped or
      redirected output has none, and neither has TERM=dumb.
      Default: unset (severities, classes, health and log levels are
      coloured on a terminal).
` + listenerSourceHelp(),
	}
}

// listenerSourceHelp is the SPEC_KITTY_LISTENER_SOURCE entry of `help
// environment`. Its lists of values come from probe.ValidSources, the one
// place that decides them, so the page cannot drift from what the scan
// accepts (lsof, for one, works on Linux as well as macOS).
func listenerSourceHelp() string {
	values := func(goos string) string { return strings.Join(probe.ValidSources(goos), ", ") }
	return fmt.Sprintf(`  SPEC_KITTY_LISTENER_SOURCE
      Where the scan learns which process owns a port. Valid values:
        Linux:   %s
        macOS:   %s
        Windows: %s
      Any other value is a usage error (exit 2). With none, or when a
      source fails, the scan still runs but signals nothing it cannot
      prove is ours.
      Default: auto (sock_diag, then procfs on Linux; lsof on macOS;
      iphlpapi on Windows).`, values("linux"), values("darwin"), values("windows"))
}

func newExitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What spec-kitty's exit statuses mean",
		Long: `Exit statuses:

  0    success; for 'sync status': a healthy sync daemon is running
  1    failure: a command failed, 'auth doctor --reset' left entries in
       failed[], a start failed, or 'sync status' found no healthy daemon
       (also when it cannot read the runtime root or the state file)
  2    usage error: an unknown command or flag, a missing or bad argument
  130  interrupted (Ctrl-C or SIGTERM), including ending 'sync logs -f'

Errors are one line on stderr; data goes to stdout.`,
	}
}

// examples are the Example sections of every command that does not carry
// its own (auth login, status and logout, sync publish and parked do), by
// command path. They live here, next to the help topics; the live test
// TestOps_Help asks every command for its examples.
var examples = map[string]string{
	"spec-kitty help": `  spec-kitty help sync status
  spec-kitty help environment
  spec-kitty help exit-codes`,
	"spec-kitty version": `  spec-kitty version
  spec-kitty --version
  spec-kitty version --json | jq -r .commit`,
	"spec-kitty sync": `  spec-kitty sync start
  spec-kitty sync status
  spec-kitty sync logs -f`,
	"spec-kitty sync start": `  spec-kitty sync start
  spec-kitty sync start --json | jq .reaped`,
	"spec-kitty sync status": `  spec-kitty sync status
  spec-kitty sync status --json | jq .sync.queue_depth
  spec-kitty sync status >/dev/null || echo "sync daemon not healthy"`,
	"spec-kitty sync stop": `  spec-kitty sync stop
  spec-kitty sync stop --json | jq .stopped`,
	"spec-kitty sync logs": `  spec-kitty sync logs
  spec-kitty sync logs -n 200
  spec-kitty sync logs -f | jq -r .msg
  spec-kitty sync logs --json > daemon-log.jsonl`,
	"spec-kitty auth": `  spec-kitty auth status
  spec-kitty auth doctor`,
	"spec-kitty auth doctor": `  spec-kitty auth doctor
  spec-kitty auth doctor --json | jq '.orphans[] | {port, cleanup_class, skip_reason}'
  spec-kitty auth doctor --reset
  spec-kitty auth doctor --reset --force`,
	"spec-kitty dashboard": `  spec-kitty dashboard
  spec-kitty dashboard --project ~/src/app --json | jq -r .url
  spec-kitty dashboard --stop`,
	"spec-kitty completion": `  spec-kitty completion bash > /etc/bash_completion.d/spec-kitty
  spec-kitty completion zsh > "${fpath[1]}/_spec-kitty"`,
	"spec-kitty completion bash":       `  source <(spec-kitty completion bash)`,
	"spec-kitty completion zsh":        `  spec-kitty completion zsh > "${fpath[1]}/_spec-kitty"`,
	"spec-kitty completion fish":       `  spec-kitty completion fish > ~/.config/fish/completions/spec-kitty.fish`,
	"spec-kitty completion powershell": `  spec-kitty completion powershell | Out-String | Invoke-Expression`,
}

// addExamples sets the Example of every command that has none of its own,
// walking the tree so commands added later are covered by the same table.
func addExamples(cmd *cobra.Command) {
	if cmd.Example == "" {
		cmd.Example = examples[cmd.CommandPath()]
	}
	for _, c := range cmd.Commands() {
		addExamples(c)
	}
}
