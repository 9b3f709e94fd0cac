package cli

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
)

// browserOpener returns how to open a URL in the user's browser, or nil
// when this session has none (no display, an SSH login without one): the
// login then uses the device code flow.
func browserOpener() func(string) error {
	var name string
	var args []string
	switch b := os.Getenv("BROWSER"); {
	case b != "":
		name = b
	case runtime.GOOS == "darwin":
		if os.Getenv("SSH_CONNECTION") != "" {
			return nil
		}
		name = "open"
	case runtime.GOOS == "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return nil
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil
	}
	return func(u string) error {
		cmd := exec.Command(path, append(args, u)...)
		if err := cmd.Start(); err != nil {
			return errors.Join(errors.New("opening the browser"), err)
		}
		go func() { _ = cmd.Wait() }()
		return nil
	}
}
