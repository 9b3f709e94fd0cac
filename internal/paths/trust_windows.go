//go:build windows

package paths

import "os"

// checkOwner trusts the folder: on Windows the user profile's ACLs, not
// Unix modes, keep other users out, and the runtime root lives there.
func checkOwner(string, os.FileInfo) error { return nil }

// checkPrivateFile: see checkOwner.
func checkPrivateFile(string, os.FileInfo) error { return nil }

// openFlags: Windows has no O_NOFOLLOW; OpenFile checks with Lstat first.
const openFlags = 0

var errLoop error = errNever

type neverErr struct{}

func (neverErr) Error() string { return "never" }

var errNever = neverErr{}
