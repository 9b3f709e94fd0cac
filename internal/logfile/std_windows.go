package logfile

import (
	"os"

	"golang.org/x/sys/windows"
)

// detachStdFDs points the standard output and error handles at NUL and
// closes the handles the process inherited there. A spawned daemon
// inherits the log file itself as stdout and stderr, opened without
// FILE_SHARE_DELETE; while any such handle stays open Windows refuses to
// rename the log, so rotation would fail for the daemon's whole life.
func detachStdFDs() error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// null stays open (and referenced, so no finalizer closes it): the
	// handle is now the process's stdout and stderr.
	nullOut = append(nullOut, null)
	for _, h := range []uint32{windows.STD_OUTPUT_HANDLE, windows.STD_ERROR_HANDLE} {
		if err := windows.SetStdHandle(h, windows.Handle(null.Fd())); err != nil {
			return err
		}
	}
	closeInherited(os.Stdout, os.Stderr)
	return nil
}

// closeInherited closes the inherited stdout and stderr through their
// *os.File, so later writes through them fail cleanly instead of reaching
// whatever reuses the handle value. When both are one handle (a console
// handed down as both) it is left open: closing it twice could close a
// handle opened meanwhile, and a console never blocks a rename.
func closeInherited(stdout, stderr *os.File) {
	if stdout == nil || stderr == nil || stdout.Fd() == stderr.Fd() {
		return
	}
	for _, f := range []*os.File{stdout, stderr} {
		if h := windows.Handle(f.Fd()); h != windows.InvalidHandle && h != 0 {
			_ = f.Close()
		}
	}
}

// nullOut keeps the NUL handle's file referenced for the process's life.
var nullOut []*os.File
