package cli

import "github.com/spec-kitty/spec-kitty/internal/probe"

// checkListenerSource validates SPEC_KITTY_LISTENER_SOURCE before a command
// scans: an unknown value, or one this platform lacks, is the caller's
// mistake (exit 2), and the message names the valid values.
func checkListenerSource() error {
	if _, err := probe.SourceFromEnv(); err != nil {
		return usageError{err}
	}
	return nil
}
