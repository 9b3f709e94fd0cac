//go:build !linux

package memtrim

// dropImagePages does nothing where the executable's mappings cannot be
// listed; the heap is still returned.
func dropImagePages() {}
