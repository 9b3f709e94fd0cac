package procinfo

// filetimeTicks is a Windows FILETIME (two 32-bit halves, 100 ns ticks since
// 1601) as one number: the creation time Read reports on Windows, at full
// resolution. Cut to milliseconds, two processes created in the same
// millisecond under one reused pid would share an identity.
func filetimeTicks(high, low uint32) uint64 { return uint64(high)<<32 | uint64(low) }
