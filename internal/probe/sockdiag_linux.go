package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reading /proc/net/tcp makes the kernel walk every bucket of the
// established-connection hash (262144 of them on an ordinary server), which
// costs about 5 ms per file whatever is listening: two files would take half
// the scan budget (SPEC §14). A sock_diag dump that asks for listening
// sockets only walks the small listening hash instead. procfs has no
// sock_diag support, so the request and the answer are encoded here;
// /proc/net/tcp stays the fallback where netlink is not allowed.

// Layout of the kernel's inet_diag structures (linux/inet_diag.h).
const (
	sizeofInetDiagReqV2 = 56 // inet_diag_req_v2
	sizeofInetDiagMsg   = 72 // inet_diag_msg
	offMsgSport         = 4  // id.idiag_sport, big endian
	offMsgSrc           = 8  // id.idiag_src, 16 bytes
	offMsgUID           = 64 // idiag_uid
	offMsgInode         = 68 // idiag_inode
)

// diagRecvTimeout keeps a netlink answer that never comes from hanging a
// scan: the kernel answers a listening-socket dump in well under a
// millisecond, and on a timeout the scan falls back to /proc/net/tcp.
const diagRecvTimeout = 100 * time.Millisecond

// diagRecvBuf is large enough for a few hundred sockets per read; the dump
// continues over as many reads as it needs.
const diagRecvBuf = 32 << 10

// diagListeners asks the kernel for the listening TCP sockets of one
// address family (AF_INET or AF_INET6).
func diagListeners(family uint8) ([]listenLine, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(diagRecvTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("setting sock_diag timeout: %w", err)
	}
	if err := unix.Sendto(fd, diagRequest(family), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sending sock_diag request: %w", err)
	}
	var out []listenLine
	buf := make([]byte, diagRecvBuf)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("reading sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parsing sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				return nil, fmt.Errorf("sock_diag request refused: %w", netlinkErrno(m.Data))
			case unix.SOCK_DIAG_BY_FAMILY:
				if l, ok := parseDiagMsg(m.Data); ok {
					out = append(out, l)
				}
			}
		}
	}
}

// diagRequest is a SOCK_DIAG_BY_FAMILY dump request for listening TCP
// sockets of family.
func diagRequest(family uint8) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+sizeofInetDiagReqV2)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))                     // nlmsg_len
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)           // nlmsg_type
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP) // nlmsg_flags
	req := b[unix.SizeofNlMsghdr:]                          // inet_diag_req_v2
	req[0] = family                                         // sdiag_family
	req[1] = unix.IPPROTO_TCP                               // sdiag_protocol
	ne.PutUint32(req[4:], 1<<tcpListen)                     // idiag_states
	return b
}

// parseDiagMsg reads one inet_diag_msg.
func parseDiagMsg(b []byte) (listenLine, bool) {
	if len(b) < sizeofInetDiagMsg {
		return listenLine{}, false
	}
	var addr net.IP
	switch b[0] {
	case unix.AF_INET:
		addr = net.IP(append([]byte(nil), b[offMsgSrc:offMsgSrc+4]...))
	case unix.AF_INET6:
		addr = net.IP(append([]byte(nil), b[offMsgSrc:offMsgSrc+16]...))
	default:
		return listenLine{}, false
	}
	ne := binary.NativeEndian
	return listenLine{
		addr:  addr,
		port:  int(binary.BigEndian.Uint16(b[offMsgSport:])),
		inode: uint64(ne.Uint32(b[offMsgInode:])),
		uid:   int(ne.Uint32(b[offMsgUID:])),
	}, true
}

// netlinkErrno decodes the negative errno of an NLMSG_ERROR message.
func netlinkErrno(b []byte) error {
	if len(b) < 4 {
		return errors.New("truncated netlink error")
	}
	return syscall.Errno(-int32(binary.NativeEndian.Uint32(b)))
}
