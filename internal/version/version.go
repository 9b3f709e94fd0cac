// Package version reports the version this process speaks as.
package version

import "os"

// EnvCLIVersion overrides the reported version (SPEC §13). Tests use it to
// make daemons of versions 3.2.2, 3.2.3 and 3.2.4 from one binary.
const EnvCLIVersion = "SPEC_KITTY_CLI_VERSION"

// Build is the build's version, set with -ldflags "-X ...version.Build=…".
var Build = "3.3.0"

// Current returns $SPEC_KITTY_CLI_VERSION when set, else the build's version.
func Current() string {
	if v := os.Getenv(EnvCLIVersion); v != "" {
		return v
	}
	return Build
}
