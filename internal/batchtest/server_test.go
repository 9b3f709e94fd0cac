package batchtest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, s *Server, body string) int {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(body))
	zw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+Path, &buf)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("X-Spec-Kitty-Sync-Protocol", ProtocolValue)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const envelope = `{"event_id":"01JMBY7K8N3QRVX2DPFG5HWT4E","event_type":"ErrorLogged","aggregate_id":"a","aggregate_type":"Mission",` +
	`"schema_version":"3.0.0","build_id":"b","payload":%s,"node_id":"n","lamport_clock":1,"correlation_id":"01JMBY7K8N3QRVX2DPFG5HWT4E",` +
	`"timestamp":"2026-01-01T00:00:00Z","project_uuid":"550e8400-e29b-41d4-a716-446655440000","team_slug":"t"}`

// TestServer_FlagsContractViolations: the double notices what the real
// server would refuse, so a test passing against it means something.
func TestServer_FlagsContractViolations(t *testing.T) {
	s := New("tok", nil)
	defer s.Close()
	good := strings.Replace(envelope, "%s", `{"error_type":"e","error_message":"m"}`, 1)
	if code := post(t, s, `{"events":[`+good+`]}`); code != http.StatusOK || len(s.Violations()) != 0 || s.Validated() != 1 {
		t.Fatalf("valid batch: %d %v", code, s.Violations())
	}
	if s.Delivered()["01JMBY7K8N3QRVX2DPFG5HWT4E"] != 1 {
		t.Fatal("valid event not stored")
	}
	bad := strings.Replace(envelope, "%s", `{"error_message":"m"}`, 1)
	post(t, s, `{"events":[`+bad+`]}`)
	if v := s.Violations(); len(v) == 0 {
		t.Fatal("an envelope missing a required payload field was not flagged")
	}
}
