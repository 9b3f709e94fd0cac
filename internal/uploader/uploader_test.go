package uploader

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/session"
)

// waitFor bounds every wait of these tests: generous for a loaded CI
// machine, and only reached when a test is failing anyway.
const waitFor = 10 * time.Second

// quiet is how long a test watches for something that must not happen.
const quiet = 150 * time.Millisecond

// fakeServer records batches and answers with the status its handler picks.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	batches  [][]queue.Event
	auth     []string
	requests atomic.Int64
	// status picks the answer to request number n (1-based).
	status func(n int64) int
}

func newFakeServer(t *testing.T, status func(n int64) int) *fakeServer {
	t.Helper()
	f := &fakeServer{status: status}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != BatchPath {
			http.Error(w, "wrong endpoint "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var body struct {
			Events []queue.Event `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.batches = append(f.batches, body.Events)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		code := f.status(n)
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d}`, code)
	}))
	t.Cleanup(f.Close)
	return f
}

func always(code int) func(int64) int { return func(int64) int { return code } }

func (f *fakeServer) session() *session.Session {
	return &session.Session{ServerURL: f.URL, Email: "u@example.com", Team: "t", AccessToken: "tok-123"}
}

func openQueue(t *testing.T) *queue.Queue {
	t.Helper()
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func publish(t *testing.T, q *queue.Queue, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		ev, err := q.Publish(context.Background(), "test.event", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// start runs u until the test ends and returns a channel that receives
// after every round.
func start(t *testing.T, u *Uploader) <-chan struct{} {
	t.Helper()
	rounds := make(chan struct{}, 100)
	u.roundHook = func() {
		select {
		case rounds <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
	return rounds
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func depth(t *testing.T, q *queue.Queue) int {
	t.Helper()
	n, err := q.Depth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUpload_DeletesAfter2xx(t *testing.T) {
	srv := newFakeServer(t, always(http.StatusAccepted))
	q := openQueue(t)
	ids := publish(t, q, 3)
	u := New(Config{Queue: q, Session: srv.session, Interval: time.Hour})
	rounds := start(t, u)
	<-rounds

	if n := depth(t, q); n != 0 {
		t.Fatalf("depth after a good upload = %d, want 0", n)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.batches) != 1 {
		t.Fatalf("server got %d batches, want 1", len(srv.batches))
	}
	var got []string
	for _, ev := range srv.batches[0] {
		got = append(got, ev.ID)
		if ev.Type != "test.event" || len(ev.Data) == 0 || ev.CreatedAt.IsZero() {
			t.Errorf("uploaded event lacks fields: %+v", ev)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("uploaded ids %v, want %v in order", got, ids)
	}
	if srv.auth[0] != "Bearer tok-123" {
		t.Errorf("Authorization = %q, want the bearer token", srv.auth[0])
	}
	st := u.Status()
	if st.LastSync == nil || st.ConsecutiveFailures != 0 || st.QueueDepth != 0 || st.Running {
		t.Errorf("Status after a good upload = %+v", st)
	}
}

func TestUpload_BatchesLargeBacklog(t *testing.T) {
	srv := newFakeServer(t, always(http.StatusOK))
	q := openQueue(t)
	publish(t, q, 25)
	u := New(Config{Queue: q, Session: srv.session, BatchSize: 10, Interval: time.Hour})
	rounds := start(t, u)
	<-rounds
	if n := depth(t, q); n != 0 {
		t.Fatalf("one round left %d events, want a full drain", n)
	}
	if n := srv.requests.Load(); n != 3 {
		t.Errorf("server got %d requests, want 3 (10+10+5)", n)
	}
}

func TestUpload_ServerError_KeepsEventsAndBacksOff(t *testing.T) {
	srv := newFakeServer(t, always(http.StatusInternalServerError))
	q := openQueue(t)
	ids := publish(t, q, 2)
	u := New(Config{Queue: q, Session: srv.session, MinBackoff: time.Hour, Interval: time.Hour})
	rounds := start(t, u)
	<-rounds

	if n := depth(t, q); n != len(ids) {
		t.Errorf("depth after a 500 = %d, want %d", n, len(ids))
	}
	st := u.Status()
	if st.ConsecutiveFailures != 1 || st.LastSync != nil || st.Running {
		t.Errorf("Status after a 500 = %+v, want one failure and no sync", st)
	}
	if !u.Busy() {
		t.Error("Busy = false with events queued and a session, want true")
	}

	// Inside the backoff, new events and triggers must not reach the server:
	// Notify waits for the backoff, Trigger for MinBackoff after the attempt.
	publish(t, q, 1)
	u.Notify()
	u.Trigger()
	u.Trigger()
	time.Sleep(quiet)
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("server got %d requests during the backoff, want 1", n)
	}
}

func TestUpload_ServerRecovers_Drains(t *testing.T) {
	srv := newFakeServer(t, func(n int64) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	q := openQueue(t)
	publish(t, q, 4)
	u := New(Config{Queue: q, Session: srv.session, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Interval: time.Hour})
	start(t, u)

	eventually(t, "the queue to drain once the server recovers", func() bool { return depth(t, q) == 0 })
	if n := srv.requests.Load(); n != 3 {
		t.Errorf("server got %d requests, want 3 (two failures, one success)", n)
	}
	eventually(t, "failures to reset", func() bool { return u.Status().ConsecutiveFailures == 0 })
	if u.Status().LastSync == nil {
		t.Error("LastSync not set after recovery")
	}
}

func TestUpload_NoSession_KeepsEventsQueued(t *testing.T) {
	srv := newFakeServer(t, always(http.StatusOK))
	q := openQueue(t)
	publish(t, q, 2)
	var current atomic.Pointer[session.Session]
	u := New(Config{Queue: q, Session: current.Load, Interval: time.Hour})
	rounds := start(t, u)
	<-rounds
	u.Trigger()
	<-rounds

	if n := srv.requests.Load(); n != 0 {
		t.Errorf("server got %d requests without a session, want 0", n)
	}
	if n := depth(t, q); n != 2 {
		t.Errorf("depth without a session = %d, want 2", n)
	}
	if u.Busy() {
		t.Error("Busy = true without a session, want false: nothing can be sent")
	}
	if st := u.Status(); st.ConsecutiveFailures != 0 || st.QueueDepth != 2 {
		t.Errorf("Status without a session = %+v", st)
	}

	// A login takes effect at the next round, no restart needed.
	current.Store(srv.session())
	u.Trigger()
	eventually(t, "the queue to drain after login", func() bool { return depth(t, q) == 0 })
}

func TestUpload_NilSessionFunc(t *testing.T) {
	q := openQueue(t)
	publish(t, q, 1)
	u := New(Config{Queue: q})
	rounds := start(t, u)
	<-rounds
	if n := depth(t, q); n != 1 || u.Busy() {
		t.Errorf("depth = %d, Busy = %v; want 1, false", n, u.Busy())
	}
}

func TestBusy_AndRunning_WhileUploadInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		entered <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	q := openQueue(t)
	u := New(Config{Queue: q, Interval: time.Hour, Session: func() *session.Session {
		return &session.Session{ServerURL: srv.URL, Email: "u@x.io", AccessToken: "t"}
	}})
	if u.Busy() {
		t.Error("Busy = true with an empty queue, want false")
	}
	publish(t, q, 1)
	if !u.Busy() {
		t.Error("Busy = false with an event queued and a session, want true")
	}
	start(t, u)
	<-entered

	st := u.Status()
	if !st.Running || st.QueueDepth != 1 {
		t.Errorf("Status during upload = %+v, want running with depth 1", st)
	}
	if !u.Busy() {
		t.Error("Busy = false during an upload, want true")
	}
}

func TestTrigger_WakesIdleUploaderAtOnce(t *testing.T) {
	srv := newFakeServer(t, always(http.StatusOK))
	q := openQueue(t)
	// An hour-long interval: only Trigger can explain an upload.
	u := New(Config{Queue: q, Session: srv.session, Interval: time.Hour})
	rounds := start(t, u)
	<-rounds // the initial round, with nothing queued

	publish(t, q, 1)
	u.Trigger()
	<-rounds
	if n := depth(t, q); n != 0 {
		t.Errorf("depth after Trigger = %d, want 0", n)
	}

	publish(t, q, 1)
	u.Notify()
	<-rounds
	if n := depth(t, q); n != 0 {
		t.Errorf("depth after Notify = %d, want 0", n)
	}
}

func TestTrigger_NeverBlocks(t *testing.T) {
	u := New(Config{Queue: openQueue(t)})
	done := make(chan struct{})
	go func() {
		for range 1000 {
			u.Trigger()
			u.Notify()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatal("Trigger blocked without a running uploader")
	}
}

func TestUpload_HugeErrorAnswerIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 64 { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	q := openQueue(t)
	publish(t, q, 1)
	u := New(Config{Queue: q, Interval: time.Hour, MinBackoff: time.Hour, Session: func() *session.Session {
		return &session.Session{ServerURL: srv.URL, Email: "u@x.io", AccessToken: "t"}
	}})
	s := u.session()
	events, err := q.Peek(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	err = u.send(context.Background(), s, events)
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("send error = %v, want the 502", err)
	}
	if len(err.Error()) > 2*maxErrorSnippet+len(srv.URL)+100 {
		t.Errorf("error is %d bytes, want a short snippet", len(err.Error()))
	}
}

func TestUpload_UnreachableServerCountsFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	q := openQueue(t)
	publish(t, q, 1)
	u := New(Config{Queue: q, Interval: time.Hour, MinBackoff: time.Hour, Session: func() *session.Session {
		return &session.Session{ServerURL: url, Email: "u@x.io", AccessToken: "t"}
	}})
	rounds := start(t, u)
	<-rounds
	if st := u.Status(); st.ConsecutiveFailures != 1 || st.QueueDepth != 1 {
		t.Errorf("Status = %+v, want one failure and the event kept", st)
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 1 * time.Second
	cases := []struct {
		name     string
		failures int
		wantMax  time.Duration
	}{
		{"first failure", 1, lo},
		{"second doubles", 2, 2 * lo},
		{"third doubles again", 3, 4 * lo},
		{"capped", 10, hi},
		{"huge count stays capped", 1 << 30, hi},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				got := Backoff(lo, hi, tc.failures)
				if got < tc.wantMax/2 || got > tc.wantMax {
					t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tc.failures, got, tc.wantMax/2, tc.wantMax)
				}
			}
		})
	}
}
