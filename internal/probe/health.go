package probe

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
)

// probeHost is the only address probed and the Host header sent: daemons
// listen on it and refuse any Host that is not loopback.
const probeHost = "127.0.0.1"

// maxHeaderBytes bounds the status line and headers of an answer. A health
// answer's are a few hundred bytes; a listener that sends more (or one
// endless line) is not a Spec Kitty daemon and must not make us buffer it.
const maxHeaderBytes = 16 << 10

// maxBodyWireBytes bounds what is read from the connection for the body:
// api.MaxHealthBytes+1 of payload with room for chunked framing.
const maxBodyWireBytes = 2 * (api.MaxHealthBytes + 1)

// healthPath is the endpoint every daemon answers without authentication.
const healthPath = "/api/health"

var (
	// ErrNotListening reports a port where nothing accepts connections.
	ErrNotListening = errors.New("nothing listens on the port")
	// ErrNoAnswer reports a listener that did not send a complete HTTP
	// answer within the timeout: it is wedged, or it does not speak HTTP.
	ErrNoAnswer = errors.New("no complete answer from the listener")
)

// answer is what one port said.
type answer struct {
	port int
	// listening: the connect succeeded, or timed out because the accept
	// backlog is full (something is there, it just does not accept).
	listening bool
	// httpAnswered: a status line and headers came back, any status.
	httpAnswered bool
	// complete: the body was read to its end or to the size bound.
	complete bool
	health   *api.Health
	keys     []string
	// err says why the answer is not a health payload, for Health.
	err error
	// failed is set when the port could not be probed at all, so the
	// scan cannot say whether anything listens there.
	failed error
}

// wedged: the port is there but no complete answer came back in time.
func (a answer) wedged() bool { return a.listening && !a.complete }

// Health asks one port for its health payload within timeout (zero means
// DefaultHealthTimeout). It returns the payload and its top-level keys. A
// closed port is ErrNotListening, a silent or non-HTTP one ErrNoAnswer, and
// an answer that is not a health payload wraps api.ErrNotHealth (the keys
// are still returned when the answer was a JSON object).
func Health(ctx context.Context, port int, timeout time.Duration) (*api.Health, []string, error) {
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	a := probePort(ctx, port, DefaultConnectTimeout, timeout)
	switch {
	case ctx.Err() != nil:
		return nil, nil, fmt.Errorf("probing health of port %d: %w", port, ctx.Err())
	case a.failed != nil:
		return nil, nil, fmt.Errorf("probing health of port %d: %w", port, a.failed)
	case !a.listening:
		return nil, nil, fmt.Errorf("probing health of port %d: %w", port, ErrNotListening)
	case !a.complete:
		return nil, nil, fmt.Errorf("probing health of port %d: %w: %w", port, ErrNoAnswer, a.err)
	case a.health == nil:
		return nil, a.keys, fmt.Errorf("probing health of port %d: %w", port, a.err)
	}
	return a.health, a.keys, nil
}

// Listening reports whether something listens on 127.0.0.1:port. A listener
// too busy to accept counts as listening, and so does a port the connect
// failed on for another reason than a refusal (out of descriptors or
// source ports): it cannot be shown free, so a caller looking for a free
// port moves on.
func Listening(ctx context.Context, port int) bool {
	conn, state, _ := dial(ctx, port, DefaultConnectTimeout)
	if conn != nil {
		_ = conn.Close()
	}
	return state != portClosed
}

// probePort connects and, if that works, asks for /api/health over the same
// connection, so a daemon sees exactly one request per scan.
func probePort(ctx context.Context, port int, connectTimeout, healthTimeout time.Duration) answer {
	a := answer{port: port}
	conn, state, err := dial(ctx, port, connectTimeout)
	switch state {
	case portClosed:
		return a
	case portUnknown:
		a.failed = err
		return a
	case portBusy:
		a.listening = true
		a.err = fmt.Errorf("connecting to port %d: no accept within %v", port, connectTimeout)
		return a
	}
	defer conn.Close()
	a.listening = true
	exchange(ctx, conn, port, healthTimeout, &a)
	return a
}

// portState is what a connect says about a port.
type portState int

const (
	portClosed  portState = iota // refused: nothing listens
	portOpen                     // connected
	portBusy                     // connect timed out: a listener with a full backlog
	portUnknown                  // the connect failed for another reason
)

// dial connects to 127.0.0.1:port. A conn is returned only for portOpen.
func dial(ctx context.Context, port int, timeout time.Duration) (net.Conn, portState, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(probeHost, strconv.Itoa(port)))
	var ne net.Error
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, portUnknown, fmt.Errorf("connecting to port %d: %w", port, ctx.Err())
	case isRefused(err):
		return nil, portClosed, nil
	case errors.As(err, &ne) && ne.Timeout():
		return nil, connectTimeoutState, nil
	default:
		return nil, portUnknown, fmt.Errorf("connecting to port %d: %w", port, err)
	}
	// With nothing listening, a connect to a port in the ephemeral range
	// can pick that same port as its source and connect to itself (TCP
	// simultaneous open). That is not a listener.
	if conn.LocalAddr().String() == conn.RemoteAddr().String() {
		_ = conn.Close()
		return nil, portClosed, nil
	}
	return conn, portOpen, nil
}

// exchange sends GET /api/health and reads a bounded answer before the
// deadline (the earlier of timeout and the context's). It fills a.
func exchange(ctx context.Context, conn net.Conn, port int, timeout time.Duration, a *answer) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	// Cancelling the context expires the deadline, which unblocks any read.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req, raw := healthRequest()
	if _, err := conn.Write(raw); err != nil {
		a.err = fmt.Errorf("sending health request to port %d: %w", port, err)
		return
	}
	// Headers and body get separate budgets on the wire, so neither an
	// endless header line nor an endless body is buffered.
	wire := &io.LimitedReader{R: conn, N: maxHeaderBytes}
	resp, err := http.ReadResponse(bufio.NewReader(wire), req)
	if err != nil {
		a.err = fmt.Errorf("reading health answer of port %d: %w", port, err)
		return
	}
	// The body is not closed: closing drains it, and the connection is
	// closed right after anyway.
	a.httpAnswered = true
	wire.N += maxBodyWireBytes
	body, err := io.ReadAll(io.LimitReader(resp.Body, api.MaxHealthBytes+1))
	if err != nil {
		a.err = fmt.Errorf("reading health body of port %d: %w", port, err)
		return
	}
	a.complete = true
	a.health, a.keys, a.err = api.ParseHealth(body)
	if a.err != nil {
		a.err = fmt.Errorf("parsing health answer of port %d: %w", port, a.err)
	}
}

// healthRequest is GET /api/health with a loopback Host and no keep-alive,
// and its bytes on the wire: the same for every port, so it is encoded once.
var healthRequest = sync.OnceValues(func() (*http.Request, []byte) {
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: "http", Host: probeHost, Path: healthPath},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Accept": {"application/json"}, "User-Agent": {"spec-kitty-probe"}},
		Host:       probeHost,
		Close:      true,
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		panic(fmt.Sprintf("encoding the health request: %v", err)) // a constant request
	}
	return req, b.Bytes()
})
