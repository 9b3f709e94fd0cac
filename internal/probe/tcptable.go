package probe

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The TCP table as GetExtendedTcpTable returns it with the class
// TCP_TABLE_OWNER_PID_LISTENER, one call per address family. The parsing is
// a pure function over the bytes, built on every platform so that it is
// tested everywhere; only the call itself is Windows code.

// Address families of GetExtendedTcpTable (winsock's AF_INET and AF_INET6).
const (
	afINET  = 2
	afINET6 = 23
)

// Row layouts. Every field is a DWORD or a byte array, so there is no
// padding: MIB_TCPTABLE_OWNER_PID is dwNumEntries then rows of
// MIB_TCPROW_OWNER_PID {dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr,
// dwRemotePort, dwOwningPid}; MIB_TCP6TABLE_OWNER_PID is dwNumEntries then
// rows of MIB_TCP6ROW_OWNER_PID {ucLocalAddr[16], dwLocalScopeId,
// dwLocalPort, ucRemoteAddr[16], dwRemoteScopeId, dwRemotePort, dwState,
// dwOwningPid}.
const (
	tcpHeaderSize  = 4
	tcp4RowSize    = 24
	tcp6RowSize    = 56
	tcpStateListen = 2 // MIB_TCP_STATE_LISTEN
)

// tableReader reads the raw TCP table of one address family: the Windows
// call, or a fake in tests.
type tableReader func(ctx context.Context, family int) ([]byte, error)

// parseTCPTable turns one family's table into its listening sockets. The
// DWORDs are in the machine's byte order (little-endian on every Windows
// Go builds for); the addresses and the port are in network byte order,
// the port in the low two bytes of its DWORD. A table shorter than its own
// row count says is an error, never a shorter list.
func parseTCPTable(family int, buf []byte) ([]pidListener, error) {
	rowSize := tcp4RowSize
	if family == afINET6 {
		rowSize = tcp6RowSize
	} else if family != afINET {
		return nil, fmt.Errorf("parsing the TCP table: unknown address family %d", family)
	}
	if len(buf) < tcpHeaderSize {
		return nil, fmt.Errorf("parsing the TCP table: %d bytes, shorter than its header", len(buf))
	}
	n := uint64(binary.LittleEndian.Uint32(buf))
	if need := tcpHeaderSize + n*uint64(rowSize); need > uint64(len(buf)) {
		return nil, fmt.Errorf("parsing the TCP table: %d rows need %d bytes, got %d", n, need, len(buf))
	}
	ls := make([]pidListener, 0, n)
	for i := range int(n) {
		row := buf[tcpHeaderSize+i*rowSize:][:rowSize]
		if l, ok := parseTCPRow(family, row); ok {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

// parseTCPRow reads one row; ok is false for a row that is not listening.
func parseTCPRow(family int, row []byte) (pidListener, bool) {
	var state, pid uint32
	var addr netip.Addr
	var portField []byte
	if family == afINET {
		state, pid = binary.LittleEndian.Uint32(row[0:]), binary.LittleEndian.Uint32(row[20:])
		addr, portField = netip.AddrFrom4([4]byte(row[4:8])), row[8:]
	} else {
		state, pid = binary.LittleEndian.Uint32(row[48:]), binary.LittleEndian.Uint32(row[52:])
		addr, portField = netip.AddrFrom16([16]byte(row[0:16])), row[20:]
	}
	if state != tcpStateListen {
		return pidListener{}, false
	}
	return pidListener{PID: int(pid), Host: addr.String(), Port: int(binary.BigEndian.Uint16(portField))}, true
}

// readListeners reads both families' tables. A family that cannot be read
// fails the whole read: half a table would look like "nothing listens" on
// the ports of the other half.
func readListeners(ctx context.Context, read tableReader) ([]pidListener, error) {
	var all []pidListener
	for _, family := range []int{afINET, afINET6} {
		buf, err := read(ctx, family)
		if err != nil {
			return nil, fmt.Errorf("reading the TCP table: %w", err)
		}
		ls, err := parseTCPTable(family, buf)
		if err != nil {
			return nil, err
		}
		all = append(all, ls...)
	}
	return all, nil
}

// tableListening reports whether the table holds a listener on port that
// receives connections to 127.0.0.1 (127.0.0.1 itself, or a wildcard),
// whoever owns it: a row whose pid the table does not name (Wine names
// none) still holds the port. An unreadable table is an error, never "no".
func tableListening(ctx context.Context, read tableReader, port int) (bool, error) {
	ls, err := readListeners(ctx, read)
	if err != nil {
		return false, err
	}
	for _, l := range ls {
		if l.Port == port && hostTier(l.Host) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// The grow loop around GetExtendedTcpTable: the first call learns the size,
// the next fills the buffer; sockets opened in between make the table grow
// again, so the loop retries a bounded number of times.
const (
	errorSuccess            = 0   // NO_ERROR
	errorInsufficientBuffer = 122 // ERROR_INSUFFICIENT_BUFFER
	tableFirstSize          = 4 << 10
	tableGrowTries          = 8
)

// tableCall is one GetExtendedTcpTable call: it fills buf, or sets *size to
// the size it needs; it returns the Win32 error code.
type tableCall func(buf []byte, size *uint32) uint32

// errTableGrowing reports a table that outgrew every buffer offered.
var errTableGrowing = fmt.Errorf("the table kept growing after %d tries", tableGrowTries)

// growTable calls until the table fits. It returns the filled buffer, or the
// first error code other than ERROR_INSUFFICIENT_BUFFER (0 with
// errTableGrowing when the tries ran out).
func growTable(call tableCall) ([]byte, uint32, error) {
	size := uint32(tableFirstSize)
	for range tableGrowTries {
		buf := make([]byte, size)
		switch code := call(buf, &size); code {
		case errorSuccess:
			return buf, 0, nil
		case errorInsufficientBuffer:
			// Room for sockets opened before the next call; a size that
			// did not grow (a broken answer) is doubled.
			size = max(size+size/8, 2*uint32(len(buf)))
		default:
			return nil, code, nil
		}
	}
	return nil, 0, errTableGrowing
}
