//go:build linux

// Package testenv is the live-test harness: it builds the spec-kitty binary
// once per test binary, gives every test its own runtime root, starts real
// daemons and listeners on real loopback ports, and kills every process it
// started when the test ends.
//
// Real-port tests never run concurrently: Main holds a machine-wide lock for
// the whole run of a test binary, so two packages (or two developers' runs)
// using the reserved ranges queue instead of colliding.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/testenv/portlock"
)

// buildTimeout bounds the one build of the binary.
const buildTimeout = 5 * time.Minute

var binPath string

// Main is TestMain for packages with live tests. It runs a helper process
// when this test binary was re-executed as one; otherwise it builds the
// binary, takes the port lock, runs the tests and cleans up.
func Main(m *testing.M) {
	if runHelper() {
		return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "spec-kitty-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "spec-kitty")
	build := exec.Command("go", "build", "-o", binPath, "github.com/spec-kitty/spec-kitty/cmd/spec-kitty")
	// Built as released: static, without cgo (README).
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	done := make(chan error, 1)
	if err = build.Start(); err == nil {
		go func() { done <- build.Wait() }()
		select {
		case err = <-done:
		case <-time.After(buildTimeout):
			_ = build.Process.Kill()
			err = fmt.Errorf("build took longer than %v", buildTimeout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: building spec-kitty:", err)
		return 1
	}
	release, err := portlock.Hold()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer release()
	return m.Run()
}

// Bin is the path of the binary built for this test run.
func Bin() string {
	if binPath == "" {
		panic("testenv: Bin called outside testenv.Main")
	}
	return binPath
}
