//go:build !windows

package session

import (
	"os"
	"syscall"
)

// inodeOf is st_ino, the inode part of upstream's durable fingerprint.
func inodeOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // int64 or uint64 by platform
	}
	return 0
}
