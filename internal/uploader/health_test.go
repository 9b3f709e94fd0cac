package uploader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUploadHealth_FailingSinceAndReadableErrorThenRecovery: a server that
// cannot be reached shows as failing since the first failure, with a
// readable one-line error that names the server (the raw dial error goes
// to the log only); the first success clears the failure and records the
// success time (SPEC §10 *Upload health*).
func TestUploadHealth_FailingSinceAndReadableErrorThenRecovery(t *testing.T) {
	r := newRig(t, nil)
	dead := httptest.NewServer(http.NotFoundHandler())
	r.p.url = dead.URL
	dead.Close()
	r.publish(projectA, 1)
	before := time.Now().UTC()
	r.u.drain(context.Background())
	first := r.u.Status()
	r.u.drain(context.Background())
	st := r.u.Status()
	if st.ConsecutiveFailures != 2 || st.FailingSince == nil || !st.FailingSince.Equal(*first.FailingSince) ||
		st.FailingSince.Before(before.Add(-time.Second)) {
		t.Fatalf("after two failures: %+v; want 2 failures, failing since the first", st)
	}
	if st.LastSuccessAt != nil || st.LastSync == nil {
		t.Errorf("never succeeded: last_success_at %v, last_sync %v", st.LastSuccessAt, st.LastSync)
	}
	want := "cannot reach " + dead.URL + ": connection refused"
	if st.LastError == nil || !strings.HasPrefix(*st.LastError, want) || strings.Contains(*st.LastError, "dial tcp") {
		t.Errorf("last error %v, want one readable line starting %q", st.LastError, want)
	}
	if log := r.log.String(); !strings.Contains(log, "dial tcp") || !strings.Contains(log, `"detail"`) {
		t.Errorf("the raw error is not in the log:\n%s", log)
	}

	r.p.url = r.srv.URL
	r.drain(3)
	st = r.u.Status()
	if st.ConsecutiveFailures != 0 || st.FailingSince != nil || st.LastError != nil || st.LastSuccessAt == nil {
		t.Errorf("after recovery: %+v", st)
	}
}

func TestTransportReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection refused (is the server running?)"},
		{"reset", fmt.Errorf("post: %w", syscall.ECONNRESET), "connection reset by the server"},
		{"dns", &net.DNSError{Err: "no such host", Name: "sync.example.invalid", IsNotFound: true}, "host name sync.example.invalid not found"},
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), "no answer in time"},
		{"other", fmt.Errorf("post x: %w", errors.New("weird")), "weird"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := transportReason(tc.err); got != tc.want {
				t.Errorf("transportReason = %q, want %q", got, tc.want)
			}
		})
	}
}
