// Command spec-kitty is the Spec Kitty CLI, and — re-executed with a hidden
// subcommand — its sync and dashboard daemons.
package main

import (
	"os"

	"github.com/spec-kitty/spec-kitty/internal/cli"
)

func main() { os.Exit(cli.Main()) }
