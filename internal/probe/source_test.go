package probe

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	cases := []struct {
		goos, value, want string
		wantErr           bool
	}{
		{"linux", "", "auto", false},
		{"linux", "auto", "auto", false},
		{"linux", "sock_diag", "sock_diag", false},
		{"linux", "procfs", "procfs", false},
		{"linux", "lsof", "lsof", false},
		{"linux", "none", "none", false},
		{"linux", "iphlpapi", "", true},
		{"linux", "LSOF", "", true},
		{"linux", "netstat", "", true},
		{"darwin", "lsof", "lsof", false},
		{"darwin", "none", "none", false},
		{"darwin", "sock_diag", "", true},
		{"darwin", "procfs", "", true},
		{"darwin", "iphlpapi", "", true},
		{"windows", "iphlpapi", "iphlpapi", false},
		{"windows", "none", "none", false},
		{"windows", "lsof", "", true},
		{"windows", "sock_diag", "", true},
	}
	for _, tc := range cases {
		got, err := ParseSource(tc.goos, tc.value)
		if tc.wantErr {
			var se *SourceError
			if !errors.As(err, &se) {
				t.Errorf("ParseSource(%s, %q) error = %v, want a *SourceError", tc.goos, tc.value, err)
				continue
			}
			for _, v := range ValidSources(tc.goos) {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("ParseSource(%s, %q) error %q does not name %q", tc.goos, tc.value, err, v)
				}
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSource(%s, %q) = %q, %v; want %q", tc.goos, tc.value, got, err, tc.want)
		}
	}
}

// TestPIDFinder_Decisions drives the finder of the pid-naming sources
// (lsof, GetExtendedTcpTable) with a fake listing, so the decisions around
// the OS call are tested on any platform.
func TestPIDFinder_Decisions(t *testing.T) {
	self := os.Getpid()
	list := func(context.Context, []int) ([]pidListener, error) {
		return []pidListener{
			{PID: self, Host: "127.0.0.1", Port: 9401},    // a process we can read
			{PID: self, Host: "[::1]", Port: 9401},        // cannot receive 127.0.0.1
			{PID: 601, Host: "127.0.0.1", Port: 9410},     // shared socket:
			{PID: 602, Host: "127.0.0.1", Port: 9410},     // ambiguous owner
			{PID: 1 << 30, Host: "127.0.0.1", Port: 9420}, // no such process
			{PID: self, Host: "127.0.0.1", Port: 9500},    // not asked for
			{PID: self + 1, Host: "0.0.0.0", Port: 9430},  // wildcard loses to
			{PID: self, Host: "127.0.0.1", Port: 9430},    // the loopback address
		}, nil
	}
	ports := []int{9401, 9410, 9420, 9430, 9440}
	f := newPIDFinder(SourceLsof, ports, list)
	got := f.rest(context.Background(), ports)
	for _, port := range []int{9401, 9430} {
		if got[port].info.PID != self || got[port].info.StartTime == 0 {
			t.Errorf("port %d owner = %+v, want this process with its start time", port, got[port])
		}
	}
	for _, port := range []int{9410, 9420, 9440} {
		if got[port].info.PID != 0 {
			t.Errorf("port %d owner = %+v, want unknown", port, got[port])
		}
	}
	if r := f.report(); r.Name != SourceLsof || len(r.Notes) != 0 {
		t.Errorf("report = %+v, want lsof without notes", r)
	}
	if o, done := f.hinted(9401, nil); !done || o.info.PID != self {
		t.Errorf("hinted = %+v, %v; want this process, settled", o, done)
	}
}

func TestPIDFinder_FailingSourceDegradesToNone(t *testing.T) {
	list := func(context.Context, []int) ([]pidListener, error) {
		return nil, errors.New(`finding lsof: exec: "lsof": executable file not found in $PATH`)
	}
	f := newPIDFinder(SourceLsof, []int{9401}, list)
	if o := f.rest(context.Background(), []int{9401}); o[9401].info.PID != 0 {
		t.Errorf("owner = %+v, want unknown", o[9401])
	}
	r := f.report()
	if r.Name != SourceNone || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "lsof") {
		t.Errorf("report = %+v, want none with a note naming lsof", r)
	}
}

func TestNoneFinder(t *testing.T) {
	f, err := newOwnerFinder(SourceNone, []int{9401})
	if err != nil {
		t.Fatal(err)
	}
	if o, done := f.hinted(9401, []int{os.Getpid()}); !done || o.info.PID != 0 || o.uid != -1 {
		t.Errorf("hinted = %+v, %v; want unknown, settled", o, done)
	}
	if r := f.report(); r.Name != SourceNone {
		t.Errorf("report = %+v", r)
	}
}
