package events

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// TestSchemaLibraryInitIsCheap: linking the events package must not make
// every spec-kitty process compile JSON Schema metaschemas at start-up.
// Upstream jsonschema/v6 compiles every draft in an init() (about 21,000
// allocations, 1.7 MB, ~3 ms per process); the copy in third_party/ compiles
// them on the first NewCompiler. The test reruns this test binary with
// GODEBUG=inittrace=1 and reads the library's initialiser allocations.
func TestSchemaLibraryInitIsCheap(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running %s with inittrace: %v\n%s", os.Args[0], err, out)
	}
	re := regexp.MustCompile(`(?m)^init github\.com/spec-kitty/spec-kitty/third_party/jsonschema @.* (\d+) bytes, (\d+) allocs$`)
	m := re.FindSubmatch(out)
	if m == nil {
		return // the initialiser did no work at all
	}
	allocs, _ := strconv.Atoi(string(m[2]))
	if allocs > 1000 {
		t.Fatalf("jsonschema's initialiser made %d allocations (%s bytes): the metaschemas are compiled at start-up again", allocs, m[1])
	}
	// The lazy path still validates: a known-bad envelope is refused.
	if err := Validate([]byte(`{}`)); err == nil {
		t.Fatal("Validate accepted an empty object")
	}
}
