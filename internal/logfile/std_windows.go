package logfile

import (
	"os"

	"golang.org/x/sys/windows"
)

// detachStdFDs points the standard output and error handles at NUL.
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
	return nil
}

// nullOut keeps the NUL handle's file referenced for the process's life.
var nullOut []*os.File
