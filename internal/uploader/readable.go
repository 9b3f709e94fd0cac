package uploader

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"syscall"
)

// readableTransportError turns a failed request into the one line an
// operator reads in `sync status`, the doctor and the page: which server
// could not be reached and why, in words. The raw error (a Go dial error
// with the full URL and the syscall) goes to the log only.
func readableTransportError(server string, err error) string {
	return "cannot reach " + strings.TrimRight(server, "/") + ": " + transportReason(err)
}

// transportReason names the cause of a transport error in a few words.
func transportReason(err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr x509.CertificateInvalidError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (is the server running?)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the server"
	case errors.As(err, &dnsErr):
		return "host name " + dnsErr.Name + " not found"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "no answer in time"
	case errors.As(err, &unknownCA):
		return "certificate signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "certificate is not valid for this host"
	case errors.As(err, &certErr):
		return "invalid certificate"
	}
	return innermost(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// innermost returns the message of the deepest wrapped error: the cause,
// without the layers of "Post …: dial tcp …:" around it.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
