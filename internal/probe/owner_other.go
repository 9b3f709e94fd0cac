//go:build !linux && !windows

package probe

import "runtime"

// newPlatformFinder is reached only for a kernel source this platform does
// not have; ParseSource refuses those names before, so this is a guard.
func newPlatformFinder(name string, _ []int) (ownerFinder, error) {
	return nil, &SourceError{Value: name, Valid: ValidSources(runtime.GOOS)}
}
