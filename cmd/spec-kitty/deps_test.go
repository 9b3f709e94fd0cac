package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runtimeLoaders are packages that load code at run time on macOS: purego
// calls into libSystem through dlopen'd symbols, and its fakecgo hooks the
// runtime by linkname in ways each Go release may break, so a binary that
// links them may not start at all (SPEC §8 Platforms).
var runtimeLoaders = []string{
	"github.com/ebitengine/purego",
	"github.com/ebitengine/purego/internal/fakecgo",
}

// TestDarwinBuildLoadsNothingAtRunTime lists what the macOS binary links,
// for both Mac architectures, and fails if a run-time loader is among it.
// It runs anywhere Go does: the listing needs no Mac.
func TestDarwinBuildLoadsNothingAtRunTime(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the darwin build: %v", err)
	}
	for _, arch := range []string{"arm64", "amd64"} {
		t.Run(arch, func(t *testing.T) {
			cmd := exec.Command(goTool, "list", "-deps", ".")
			cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH="+arch, "CGO_ENABLED=0")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps for darwin/%s: %v\n%s", arch, err, stderrOf(err))
			}
			deps := strings.Fields(string(out))
			if len(deps) < 10 {
				t.Fatalf("go list named %d packages, too few to be the binary's: %q", len(deps), deps)
			}
			for _, dep := range deps {
				for _, bad := range runtimeLoaders {
					if dep == bad || strings.HasPrefix(dep, bad+"/") {
						t.Errorf("darwin/%s links %s", arch, dep)
						break
					}
				}
			}
		})
	}
}

func stderrOf(err error) string {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
