//go:build windows

package probe

import (
	"context"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// x/sys/windows does not wrap GetExtendedTcpTable; it is called directly so
// that its errors reach the caller (gopsutil dropped them, and an
// unreadable table looked empty).
var procGetExtendedTcpTable = windows.NewLazySystemDLL("iphlpapi.dll").NewProc("GetExtendedTcpTable")

// tcpTableOwnerPIDListener is TCP_TABLE_OWNER_PID_LISTENER: listening
// sockets only, each with its owner pid.
const tcpTableOwnerPIDListener = 3

// readTCPTable reads the raw table of one address family.
func readTCPTable(ctx context.Context, family int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := procGetExtendedTcpTable.Find(); err != nil {
		return nil, fmt.Errorf("finding GetExtendedTcpTable: %w", err)
	}
	buf, code, err := growTable(func(buf []byte, size *uint32) uint32 {
		r, _, _ := procGetExtendedTcpTable.Call(
			uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(unsafe.Pointer(size)),
			0, // unsorted
			uintptr(family), tcpTableOwnerPIDListener, 0)
		return uint32(r)
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("GetExtendedTcpTable(%s): %w", familyName(family), err)
	case code != 0:
		return nil, fmt.Errorf("GetExtendedTcpTable(%s): %w", familyName(family), windows.Errno(code))
	}
	return buf, nil
}

func familyName(family int) string {
	if family == afINET6 {
		return "AF_INET6"
	}
	return "AF_INET"
}
