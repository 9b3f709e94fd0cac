//go:build !linux

package probe

import "context"

// finder cannot map a socket to a process on this platform: every owner is
// unknown, which the classifier turns into operator_required (missing_pid)
// or never_touch, never into a kill (SPEC §14).
type finder struct{}

func newFinder([]int) *finder { return &finder{} }

// dialPorts dials every port: there is no listener table to narrow them.
func (*finder) dialPorts(ports []int) []int { return ports }

// hinted settles every port at once: its owner is unknown.
func (*finder) hinted(int, []int) (owner, bool) { return unknownOwner, true }

// rest is never needed here; it answers unknown for every port.
func (*finder) rest(_ context.Context, ports []int) map[int]owner {
	out := make(map[int]owner, len(ports))
	for _, p := range ports {
		out[p] = unknownOwner
	}
	return out
}
