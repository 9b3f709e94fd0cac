//go:build windows

package probe

import (
	"context"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/windows"
)

// underWine reports whether this runs on Wine, whose TCP table names no
// owner pid (every row says 0).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TestReadTCPTable_FindsOurListeners reads the real table through
// GetExtendedTcpTable: a listener of this process on 127.0.0.1 and one on
// ::1 are both there, on the right ports, owned by this process (by pid 0
// under Wine); once closed, the port no longer listens.
func TestReadTCPTable_FindsOurListeners(t *testing.T) {
	v4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer v4.Close()
	v6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer v6.Close()
	wantPID := os.Getpid()
	if underWine() {
		wantPID = 0
	}
	ls, err := readListeners(context.Background(), readTCPTable)
	if err != nil {
		t.Fatalf("reading the TCP table: %v", err)
	}
	for _, want := range []pidListener{
		{PID: wantPID, Host: "127.0.0.1", Port: v4.Addr().(*net.TCPAddr).Port},
		{PID: wantPID, Host: "::1", Port: v6.Addr().(*net.TCPAddr).Port},
	} {
		found := false
		for _, l := range ls {
			found = found || l == want
		}
		if !found {
			t.Errorf("no row %+v among %d listeners: %+v", want, len(ls), ls)
		}
	}
	port := v4.Addr().(*net.TCPAddr).Port
	if ok, err := TableListening(context.Background(), port); !ok || err != nil {
		t.Errorf("TableListening(%d) while listening = %v, %v", port, ok, err)
	}
	v4.Close()
	if ok, err := TableListening(context.Background(), port); ok || err != nil {
		t.Errorf("TableListening(%d) after close = %v, %v", port, ok, err)
	}
}

// TestIPHlpAPISource_Reports names iphlpapi as the source of a scan when
// the table was read.
func TestIPHlpAPISource_Reports(t *testing.T) {
	f, err := newOwnerFinder(SourceIPHlpAPI, []int{9401})
	if err != nil {
		t.Fatal(err)
	}
	f.rest(context.Background(), []int{9401})
	if r := f.report(); r.Name != SourceIPHlpAPI || len(r.Notes) != 0 {
		t.Errorf("report = %+v, want iphlpapi without notes", r)
	}
}
