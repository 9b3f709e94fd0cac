package probe

import "github.com/spec-kitty/spec-kitty/internal/procinfo"

// owner is what the OS says about the process holding one port's listening
// socket.
type owner struct {
	// uid owns the socket; -1 when unknown. It is known even when the
	// process is not (another user's socket).
	uid int
	// info describes the process; its PID is 0 when unknown.
	info procinfo.Info
}

// unknownOwner is the owner of a listener the OS told nothing about.
var unknownOwner = owner{uid: -1, info: procinfo.Info{UID: -1}}
