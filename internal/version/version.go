// Package version reports the version this process speaks as, and what the
// build knows about itself for a bug report.
package version

import (
	"os"
	"runtime"
	"runtime/debug"
)

// EnvCLIVersion overrides the reported version (SPEC §13). Tests use it to
// make daemons of versions 3.2.2, 3.2.3 and 3.2.4 from one binary.
const EnvCLIVersion = "SPEC_KITTY_CLI_VERSION"

// Build is the build's version, set with -ldflags "-X ...version.Build=…".
var Build = "3.3.0"

// Commit and BuildDate may be set with -ldflags; otherwise they come from the
// VCS data the Go toolchain stamps into the binary.
var Commit, BuildDate string

// Unknown is reported for what the build does not know (a build outside a
// repository, or with -buildvcs=false).
const Unknown = "unknown"

// Current returns $SPEC_KITTY_CLI_VERSION when set, else the build's version.
func Current() string {
	if v := os.Getenv(EnvCLIVersion); v != "" {
		return v
	}
	return Build
}

// Info is `spec-kitty version --json` (SPEC §12).
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Get returns what this binary knows about its build. The build date is the
// commit's time from the VCS data: Go records no wall-clock build time, so
// that builds stay reproducible.
func Get() Info {
	info := Info{
		Version: Current(), Commit: Commit, BuildDate: BuildDate,
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.GoVersion = bi.GoVersion
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.BuildDate == "" {
					info.BuildDate = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && info.Commit != "" && Commit == "" {
			info.Commit += "-dirty"
		}
	}
	if info.Commit == "" {
		info.Commit = Unknown
	}
	if info.BuildDate == "" {
		info.BuildDate = Unknown
	}
	return info
}
