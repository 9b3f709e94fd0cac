//go:build !linux

package probe

import "context"

// resolveOwners cannot map a socket to a process on this platform: every
// owner is unknown, which the classifier turns into operator_required
// (missing_pid) or never_touch, never into a kill (SPEC §14).
func resolveOwners(context.Context, map[int][]int) map[int]owner { return nil }
