// Command floor is the physical floor of `spec-kitty auth doctor --json` on
// Linux: the least real work that yields the same answer about the sync
// range, measured in the same benchmark run as the real command so that
// their ratio is meaningful (SPEC §14, BENCHMARKS.md).
//
// It does, and only does: one sock_diag dump of the listening TCP sockets
// (one request per address family, since a [::] listener also receives
// 127.0.0.1), one GET /api/health per listener of [9400, 9450) over a fresh
// connection, all at once, decoded as JSON; and for each listener the /proc
// reads that prove who owns it: the fd links of the pid the answer names up
// to the one that holds the socket's inode, then stat (start time) and
// cmdline. It prints one JSON line per listener. It has no fallbacks, no
// bounds on hostile answers and no classification: it is a yardstick, not
// a tool.
package main
