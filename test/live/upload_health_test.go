//go:build linux

package live

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/third_party/jsonschema"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// syncStatusSchema compiles the committed JSON Schema of `sync status --json`.
func syncStatusSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	return compileSchemaFile(t, "sync-status.schema.json")
}

// closedPortURL returns the URL of a loopback port nothing listens on: a
// server that is down.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// driveFailures wakes the uploader of the recorded daemon until it reports
// at least n failed attempts in a row. A trigger brings a retry forward to
// the uploader's shortest backoff (1 s), so five failures take seconds, not
// the minute the doubling backoff would.
func driveFailures(t *testing.T, e *testenv.Env, n int) api.StatusResult {
	t.Helper()
	rec := recorded(t, e)
	var st api.StatusResult
	waitFor(t, 60*time.Second, "consecutive upload failures in sync status", func() bool {
		e.MustJSON(&st, "sync", "status", "--json")
		if st.Sync.ConsecutiveFailures >= n {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = client.New(rec.Port).Trigger(ctx, rec.Token)
		time.Sleep(300 * time.Millisecond)
		return false
	})
	return st
}

// TestUploadHealth_ServerDown: logged in to a server that is down, the
// daemon answers health but no upload succeeds. `sync status` says so —
// since when, how often, the error in one readable line and a next step —
// instead of a bare "healthy"; its JSON has the upload health in `sync`,
// once; `auth doctor` raises `uploads_failing` with the same facts; the raw
// dial error is in the log only (SPEC §10 *Upload health*, §12).
func TestUploadHealth_ServerDown(t *testing.T) {
	e := testenv.New(t)
	server := closedPortURL(t)
	login(t, e, server)
	start(t, e)
	publish(t, recorded(t, e), 2)
	st := driveFailures(t, e, 5)

	reason := "cannot reach " + server + ": connection refused"
	if !st.Healthy || st.Sync.FailingSince == nil || st.Sync.LastSuccessAt != nil || st.Sync.QueueDepth != 2 ||
		st.Sync.LastError == nil || !strings.HasPrefix(*st.Sync.LastError, reason) {
		t.Fatalf("sync status --json = %+v, sync %+v; want healthy with failing_since, no success, 2 queued, error %q",
			st, st.Sync, reason)
	}
	raw := e.Run("sync", "status", "--json")
	if err := validate(syncStatusSchema(t), raw.Stdout); err != nil {
		t.Errorf("sync status --json does not match docs/schema/sync-status.schema.json: %v\n%s", err, raw.Stdout)
	}
	if none := testenv.New(t).Run("sync", "status", "--json"); validate(syncStatusSchema(t), none.Stdout) != nil {
		t.Errorf("sync status --json with no daemon does not match the schema:\n%s", none.Stdout)
	}
	var shape map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw.Stdout), &shape); err != nil {
		t.Fatal(err)
	}
	if _, dup := shape["parked"]; dup {
		t.Errorf("parked at the top level as well as in sync:\n%s", raw.Stdout)
	}
	if strings.Contains(string(shape["sync"]), `"running"`) {
		t.Errorf("sync.running in sync status --json beside healthy:\n%s", raw.Stdout)
	}

	human := e.Run("sync", "status")
	out := human.Stdout
	for _, want := range []string{"sync daemon: running, uploads failing", "uploads: failing since ", " attempts): " + reason,
		"next: check that the server is up", "spec-kitty sync logs"} {
		if !strings.Contains(out, want) {
			t.Errorf("sync status lacks %q:\n%s", want, out)
		}
	}
	if human.Code != 0 || strings.Contains(out, "healthy") || strings.Contains(out, "dial tcp") {
		t.Errorf("sync status: exit %d, want 0, no bare healthy, no raw dial error:\n%s", human.Code, out)
	}

	var rep api.DoctorReport
	e.MustJSON(&rep, "auth", "doctor", "--json")
	var found *api.Finding
	for i := range rep.Findings {
		if rep.Findings[i].ID == "uploads_failing" {
			found = &rep.Findings[i]
		}
	}
	if found == nil {
		t.Fatalf("auth doctor --json has no uploads_failing finding: %+v", rep.Findings)
	}
	if found.Severity != "warning" || !strings.Contains(found.Summary, "failing since ") ||
		!strings.Contains(found.Summary, reason) || found.Remediation.Command != "spec-kitty sync logs" {
		t.Errorf("uploads_failing = %+v", *found)
	}
	if doc := e.Run("auth", "doctor"); !strings.Contains(doc.Stdout+doc.Stderr, "uploads failing since") {
		t.Errorf("auth doctor does not show the upload failure:\n%s%s", doc.Stdout, doc.Stderr)
	}
	if logs := e.Run("sync", "logs", "-n", "200"); !strings.Contains(logs.Stdout, "dial tcp") {
		t.Errorf("the raw dial error is not in the daemon log:\n%s", logs.Stdout)
	}
}
