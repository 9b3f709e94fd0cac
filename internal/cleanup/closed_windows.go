//go:build windows

package cleanup

import (
	"context"

	"github.com/spec-kitty/spec-kitty/internal/probe"
)

// portClosed reports whether the kernel's TCP table holds no listener on
// the port that receives connections to 127.0.0.1. Windows does not refuse
// a connect to a closed loopback port at once — it retries for about two
// seconds — so the refusal that proves a closed port elsewhere would come
// only after every bounded wait had run out, and every stopped daemon would
// be reported failed.
func portClosed(port int) bool {
	return closedByTable(probe.TableListening(context.Background(), port))
}
