package syncd

import (
	"bytes"
	"testing"
)

// TestHealth_ReportsLogRotationError: a daemon whose log could not be
// rotated says so in its health answer (which `sync status` shows); while
// rotation works the field is absent.
func TestHealth_ReportsLogRotationError(t *testing.T) {
	rotErr := ""
	d := testDaemon(t)
	d.cfg.LogRotationError = func() string { return rotErr }
	if h := d.Health(); h.LogRotationError != nil {
		t.Errorf("log_rotation_error %q while rotation works, want absent", *h.LogRotationError)
	}
	rotErr = "rotating log: rename sync-daemon.log sync-daemon.log.1: access is denied"
	h := d.Health()
	if h.LogRotationError == nil || *h.LogRotationError != rotErr {
		t.Fatalf("log_rotation_error = %v, want %q", h.LogRotationError, rotErr)
	}
	if body := healthBody(t, d.routes()); !bytes.Contains(body, []byte(`"log_rotation_error":"rotating log: rename`)) {
		t.Errorf("the health answer does not carry the rotation error:\n%s", body)
	}
}
