package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// TestSyncStatus_ShowsLogRotationError: a healthy daemon's rotation error
// is printed by `sync status` and carried by `--json` as
// log_rotation_error; with none the human output has no such line and the
// JSON field is null.
func TestSyncStatus_ShowsLogRotationError(t *testing.T) {
	pid, port, url, ver := 4321, 9400, "http://127.0.0.1:9400", "3.3.0"
	res := api.StatusResult{Healthy: true, PID: &pid, Port: &port, URL: &url, PackageVersion: &ver, LogPath: "sync-daemon.log", Notes: []string{}}

	var out bytes.Buffer
	printStatus(&IOStreams{Out: &out, ErrOut: &out}, res)
	if strings.Contains(out.String(), "rotation") {
		t.Errorf("status mentions rotation while it works:\n%s", out.String())
	}
	if b, _ := json.Marshal(res); !bytes.Contains(b, []byte(`"log_rotation_error":null`)) {
		t.Errorf("--json without a rotation error: %s, want log_rotation_error null", b)
	}

	why := "rotating log: rename sync-daemon.log sync-daemon.log.1: access is denied"
	res.LogRotationError = &why
	out.Reset()
	printStatus(&IOStreams{Out: &out, ErrOut: &out}, res)
	if !strings.Contains(out.String(), "log rotation failed: "+why) {
		t.Errorf("status does not show the rotation error:\n%s", out.String())
	}
	b, _ := json.Marshal(res)
	var got struct {
		LogRotationError *string `json:"log_rotation_error"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.LogRotationError == nil || *got.LogRotationError != why {
		t.Errorf("--json log_rotation_error = %v (%v) in %s", got.LogRotationError, err, b)
	}
}
