//go:build !windows

package procinfo

import "os"

func currentUID() int { return os.Getuid() }
