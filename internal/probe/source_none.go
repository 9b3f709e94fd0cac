package probe

import "context"

// noneFinder names no pid: every owner is unknown, so a listener is cleaned
// only after a token proof and only by the authenticated shutdown.
type noneFinder struct{}

// dialPorts dials every port: there is no table to narrow them.
func (noneFinder) dialPorts(ports []int) []int { return ports }

func (noneFinder) hinted(int, []int) (owner, bool) { return unknownOwner, true }

func (noneFinder) rest(_ context.Context, ports []int) map[int]owner {
	out := make(map[int]owner, len(ports))
	for _, p := range ports {
		out[p] = unknownOwner
	}
	return out
}

func (noneFinder) report() SourceReport { return SourceReport{Name: SourceNone} }
