package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// tcpRow is one row to encode as GetExtendedTcpTable lays it out.
type tcpRow struct {
	host  string
	port  uint16
	state uint32
	pid   uint32
}

// encodeTCPTable builds the buffer Windows fills for family: the DWORDs
// little-endian, the addresses and the port in network byte order (the port
// in the low bytes of its DWORD, the high bytes zero).
func encodeTCPTable(family int, rows []tcpRow) []byte {
	le := binary.LittleEndian
	buf := le.AppendUint32(nil, uint32(len(rows)))
	for _, r := range rows {
		addr := netip.MustParseAddr(r.host)
		port := binary.BigEndian.AppendUint16(nil, r.port)
		port = append(port, 0, 0)
		if family == afINET {
			buf = le.AppendUint32(buf, r.state)
			buf = append(buf, addr.AsSlice()...)
			buf = append(buf, port...)
			buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0) // remote address and port
			buf = le.AppendUint32(buf, r.pid)
			continue
		}
		a16 := addr.As16()
		buf = append(buf, a16[:]...)
		buf = le.AppendUint32(buf, 0) // local scope id
		buf = append(buf, port...)
		buf = append(buf, make([]byte, 16+4+4)...) // remote address, scope id, port
		buf = le.AppendUint32(buf, r.state)
		buf = le.AppendUint32(buf, r.pid)
	}
	return buf
}

func TestParseTCPTable(t *testing.T) {
	cases := []struct {
		name   string
		family int
		rows   []tcpRow
		want   []pidListener
	}{
		{"ipv4 loopback and wildcard", afINET,
			[]tcpRow{{"127.0.0.1", 9401, tcpStateListen, 10}, {"0.0.0.0", 9402, tcpStateListen, 11}},
			[]pidListener{{10, "127.0.0.1", 9401}, {11, "0.0.0.0", 9402}}},
		// 9401 is 0x24b9: read as a little-endian DWORD it would be 0xb924.
		{"port in network byte order", afINET,
			[]tcpRow{{"127.0.0.1", 0x24b9, tcpStateListen, 7}, {"127.0.0.1", 1, tcpStateListen, 8}, {"127.0.0.1", 65535, tcpStateListen, 9}},
			[]pidListener{{7, "127.0.0.1", 9401}, {8, "127.0.0.1", 1}, {9, "127.0.0.1", 65535}}},
		{"rows that do not listen are left out", afINET,
			[]tcpRow{{"127.0.0.1", 9401, 5 /* ESTABLISHED */, 10}, {"127.0.0.1", 9402, tcpStateListen, 11}},
			[]pidListener{{11, "127.0.0.1", 9402}}},
		{"a row without a pid is kept (Wine names none)", afINET,
			[]tcpRow{{"127.0.0.1", 9401, tcpStateListen, 0}},
			[]pidListener{{0, "127.0.0.1", 9401}}},
		{"ipv6 wildcard, loopback and mapped", afINET6,
			[]tcpRow{{"::", 9401, tcpStateListen, 12}, {"::1", 9402, tcpStateListen, 13}, {"::ffff:127.0.0.1", 9403, tcpStateListen, 14}},
			[]pidListener{{12, "::", 9401}, {13, "::1", 9402}, {14, "::ffff:127.0.0.1", 9403}}},
		{"empty table", afINET6, nil, []pidListener{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTCPTable(tc.family, encodeTCPTable(tc.family, tc.rows))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseTCPTable = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestParseTCPTable_BrokenBuffers: a buffer shorter than its row count says
// is an error, never the rows that happen to fit.
func TestParseTCPTable_BrokenBuffers(t *testing.T) {
	full := encodeTCPTable(afINET, []tcpRow{{"127.0.0.1", 9401, tcpStateListen, 1}, {"127.0.0.1", 9402, tcpStateListen, 2}})
	for name, tc := range map[string]struct {
		family int
		buf    []byte
	}{
		"nil":                    {afINET, nil},
		"half a header":          {afINET, []byte{1, 0}},
		"one row missing":        {afINET, full[:len(full)-tcp4RowSize]},
		"one byte short":         {afINET, full[:len(full)-1]},
		"ipv4 rows read as ipv6": {afINET6, full},
		"huge count":             {afINET, []byte{0xff, 0xff, 0xff, 0xff}},
		"unknown family":         {17, full},
	} {
		if ls, err := parseTCPTable(tc.family, tc.buf); err == nil {
			t.Errorf("%s: parseTCPTable = %v, nil; want an error", name, ls)
		}
	}
}

// fakeTables answers readListeners from encoded tables, or fails a family.
func fakeTables(v4, v6 []tcpRow, fail map[int]error) tableReader {
	return func(_ context.Context, family int) ([]byte, error) {
		if err := fail[family]; err != nil {
			return nil, err
		}
		if family == afINET {
			return encodeTCPTable(family, v4), nil
		}
		return encodeTCPTable(family, v6), nil
	}
}

func TestReadListeners_BothFamiliesOrAnError(t *testing.T) {
	v4 := []tcpRow{{"127.0.0.1", 9401, tcpStateListen, 10}}
	v6 := []tcpRow{{"::", 9402, tcpStateListen, 11}}
	got, err := readListeners(context.Background(), fakeTables(v4, v6, nil))
	want := []pidListener{{10, "127.0.0.1", 9401}, {11, "::", 9402}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("readListeners = %v, %v; want %v", got, err, want)
	}
	denied := errors.New("access denied")
	for _, family := range []int{afINET, afINET6} {
		got, err := readListeners(context.Background(), fakeTables(v4, v6, map[int]error{family: denied}))
		if !errors.Is(err, denied) || got != nil {
			t.Errorf("family %d unreadable: readListeners = %v, %v; want the error and no listeners", family, got, err)
		}
	}
}

// TestTableListening: how the cleanup decides on Windows that a port has
// closed. A port is held by any listening row that receives 127.0.0.1 —
// whoever owns it, a row without a pid included; a listener on ::1 or on
// another address, or another port, does not hold it. A table that cannot
// be read is an error, never "closed".
func TestTableListening(t *testing.T) {
	v4 := []tcpRow{
		{"127.0.0.1", 9401, tcpStateListen, 10},
		{"0.0.0.0", 9402, tcpStateListen, 11},
		{"127.0.0.1", 9404, tcpStateListen, 0},
		{"192.168.1.5", 9408, tcpStateListen, 15},
		{"127.0.0.1", 9405, 11 /* TIME_WAIT */, 0},
	}
	v6 := []tcpRow{{"::", 9403, tcpStateListen, 12}, {"::1", 9407, tcpStateListen, 14}}
	read := fakeTables(v4, v6, nil)
	for port, want := range map[int]bool{9401: true, 9402: true, 9403: true, 9404: true, 9405: false, 9407: false, 9408: false, 9409: false} {
		if got, err := tableListening(context.Background(), read, port); got != want || err != nil {
			t.Errorf("tableListening(%d) = %v, %v; want %v", port, got, err, want)
		}
	}
	failed := fakeTables(v4, v6, map[int]error{afINET6: errors.New("GetExtendedTcpTable(AF_INET6): Access is denied.")})
	if got, err := tableListening(context.Background(), failed, 9409); err == nil {
		t.Errorf("unreadable table: tableListening = %v, nil; want an error", got)
	}
}

// TestPIDFinder_UnreadableTableIsASourceFailure: the iphlpapi source over a
// table that cannot be read reports no pid and a note naming the source and
// the error (the doctor's listener_source_fallback finding), never an
// empty table that would look like "no listeners".
func TestPIDFinder_UnreadableTableIsASourceFailure(t *testing.T) {
	failed := fakeTables(nil, nil, map[int]error{afINET: errors.New("The data area passed to a system call is too small.")})
	f := newPIDFinder(SourceIPHlpAPI, []int{9401}, func(ctx context.Context, _ []int) ([]pidListener, error) {
		return readListeners(ctx, failed)
	})
	if o := f.rest(context.Background(), []int{9401})[9401]; o.info.PID != 0 || o.uid != -1 {
		t.Errorf("owner = %+v, want unknown", o)
	}
	r := f.report()
	if r.Name != SourceNone || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "iphlpapi failed") || !strings.Contains(r.Notes[0], "too small") {
		t.Errorf("report = %+v, want none with a note naming iphlpapi and the error", r)
	}
}

func TestGrowTable(t *testing.T) {
	// A table of need bytes that grows by grow bytes after every call that
	// found the buffer too small.
	fake := func(need, grow uint32, calls *int) tableCall {
		return func(buf []byte, size *uint32) uint32 {
			*calls++
			if uint32(len(buf)) < need {
				*size = need
				need += grow
				return errorInsufficientBuffer
			}
			buf[0] = 0xab
			return errorSuccess
		}
	}
	var calls int
	buf, code, err := growTable(fake(100_000, 64, &calls))
	if err != nil || code != 0 || len(buf) < 100_000 || buf[0] != 0xab {
		t.Fatalf("growTable = %d bytes, code %d, %v", len(buf), code, err)
	}
	if calls != 2 {
		t.Errorf("a table growing by a little between calls took %d calls, want 2 (the slack covers it)", calls)
	}
	calls = 0
	outgrows := func(buf []byte, size *uint32) uint32 { // always 4 times what it was offered
		calls++
		*size = 4 * uint32(len(buf))
		return errorInsufficientBuffer
	}
	if _, code, err := growTable(outgrows); !errors.Is(err, errTableGrowing) || code != 0 || calls != tableGrowTries {
		t.Errorf("a table that always outgrows the buffer: code %d, %v after %d calls; want errTableGrowing after %d", code, err, calls, tableGrowTries)
	}
	const accessDenied = 5
	if buf, code, err := growTable(func([]byte, *uint32) uint32 { return accessDenied }); buf != nil || code != accessDenied || err != nil {
		t.Errorf("a failing call: growTable = %v, %d, %v; want its code", buf, code, err)
	}
	calls = 0
	zero := func(buf []byte, size *uint32) uint32 { // too small, and says 0
		calls++
		if len(buf) < 1<<16 {
			*size = 0
			return errorInsufficientBuffer
		}
		return errorSuccess
	}
	if buf, _, err := growTable(zero); err != nil || len(buf) < 1<<16 {
		t.Errorf("a call that asks for 0 bytes: %d bytes, %v; want the buffer doubled until it fits", len(buf), err)
	}
}

func FuzzParseTCPTable(f *testing.F) {
	f.Add(true, encodeTCPTable(afINET, []tcpRow{{"127.0.0.1", 9401, tcpStateListen, 10}}))
	f.Add(false, encodeTCPTable(afINET6, []tcpRow{{"::", 9402, tcpStateListen, 11}}))
	f.Add(true, []byte{3, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, v4 bool, buf []byte) {
		family, rowSize := afINET6, tcp6RowSize
		if v4 {
			family, rowSize = afINET, tcp4RowSize
		}
		ls, err := parseTCPTable(family, buf) // never panics
		if err != nil {
			return
		}
		// Every listener comes from a row inside the buffer, with a port
		// that fits 16 bits.
		if (len(ls)*rowSize)+tcpHeaderSize > len(buf) {
			t.Fatalf("%d listeners from %d bytes", len(ls), len(buf))
		}
		for _, l := range ls {
			if l.Port < 0 || l.Port > 65535 || l.PID < 0 {
				t.Fatalf("listener %+v out of range", l)
			}
		}
	})
}
