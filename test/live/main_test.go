//go:build linux

// Package live holds every test that binds real ports in the reserved
// ranges. They live in one package and never call t.Parallel, and
// testenv.Main holds a machine-wide lock, so no two of them ever collide.
package live

import (
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
