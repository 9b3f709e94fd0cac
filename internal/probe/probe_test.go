package probe

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/classify"
)

// testHealthTimeout is short so the bounded-scan tests stay fast, and long
// enough that an in-process listener answers well within it under -race.
const testHealthTimeout = 300 * time.Millisecond

func scan(t *testing.T, opts Options) []classify.Evidence {
	t.Helper()
	evs, err := Scan(context.Background(), opts)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return evs
}

func byPort(evs []classify.Evidence) map[int]classify.Evidence {
	m := make(map[int]classify.Evidence, len(evs))
	for _, ev := range evs {
		m[ev.Port] = ev
	}
	return m
}

func TestScan_HostileListenersAreBoundedByOneTimeout(t *testing.T) {
	type want struct {
		answered, wedged bool
	}
	tests := []struct {
		name  string
		serve func(net.Conn)
		want  want
	}{
		{"silent 1", silent, want{answered: false, wedged: true}},
		{"silent 2", silent, want{answered: false, wedged: true}},
		{"silent 3", silent, want{answered: false, wedged: true}},
		{"silent 4", silent, want{answered: false, wedged: true}},
		{"silent 5", silent, want{answered: false, wedged: true}},
		{"10 MB garbage body", hugeBody, want{answered: true, wedged: false}},
		{"endless body", endlessBody, want{answered: true, wedged: false}},
		{"stalled body", stalledBody, want{answered: true, wedged: true}},
		{"endless non-HTTP garbage", endlessGarbage, want{answered: false, wedged: true}},
	}
	ports := make([]int, len(tests))
	for i, tt := range tests {
		ports[i] = listen(t, tt.serve)
	}
	closed := closedPort(t)

	start := time.Now()
	evs := scan(t, Options{Ports: append(slices.Clone(ports), closed), HealthTimeout: testHealthTimeout})
	elapsed := time.Since(start)

	got := byPort(evs)
	if _, ok := got[closed]; ok {
		t.Errorf("closed port %d is in the results", closed)
	}
	for i, tt := range tests {
		ev, ok := got[ports[i]]
		switch {
		case !ok:
			t.Errorf("%s: port %d missing from the results", tt.name, ports[i])
		case ev.HTTPAnswered != tt.want.answered || ev.Wedged != tt.want.wedged:
			t.Errorf("%s: answered=%v wedged=%v, want answered=%v wedged=%v",
				tt.name, ev.HTTPAnswered, ev.Wedged, tt.want.answered, tt.want.wedged)
		case ev.Health != nil:
			t.Errorf("%s: parsed a health payload: %+v", tt.name, ev.Health)
		}
	}
	// Probed one after another, the six slow listeners would take six
	// timeouts; concurrently they take one. Three leaves room for a
	// loaded machine without letting a sequential scan pass.
	if bound := 3 * testHealthTimeout; elapsed > bound {
		t.Errorf("scan took %v, want under %v (one timeout of %v, all ports concurrently)", elapsed, bound, testHealthTimeout)
	}
}

// TestScan_EndlessAnswerStopsAtSizeBound proves the size bound, not the
// timeout, ends a huge or endless answer: the timeout here is far longer
// than the scan is allowed to take.
func TestScan_EndlessAnswerStopsAtSizeBound(t *testing.T) {
	const longTimeout = 20 * time.Second
	ports := []int{listen(t, hugeBody), listen(t, endlessBody)}
	start := time.Now()
	evs := scan(t, Options{Ports: ports, HealthTimeout: longTimeout})
	if elapsed := time.Since(start); elapsed > longTimeout/4 {
		t.Errorf("scan took %v: the answer was read beyond its size bound", elapsed)
	}
	for _, ev := range evs {
		if !ev.HTTPAnswered || ev.Wedged || ev.Health != nil {
			t.Errorf("port %d: answered=%v wedged=%v health=%v; want an answer, complete, not health",
				ev.Port, ev.HTTPAnswered, ev.Wedged, ev.Health)
		}
	}
	if len(evs) != len(ports) {
		t.Errorf("got %d results, want %d", len(evs), len(ports))
	}
}

func TestScan_HealthWithinTimeoutIsParsed(t *testing.T) {
	port := listen(t, slowHealth(50*time.Millisecond))
	evs := scan(t, Options{Ports: []int{port}, HealthTimeout: time.Second})
	if len(evs) != 1 {
		t.Fatalf("got %d results, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Wedged || !ev.HTTPAnswered || ev.Health == nil || ev.Health.DaemonFamily != api.FamilySync {
		t.Fatalf("evidence = %+v, want a parsed sync health answer", ev)
	}
	if !slices.Contains(ev.HealthRawFields, "daemon_family") || !slices.Contains(ev.HealthRawFields, "owner") {
		t.Errorf("raw fields = %q, want the payload's top-level keys", ev.HealthRawFields)
	}
}

func TestScan_SortedAndOnlyRequestedPorts(t *testing.T) {
	a, b, c := listen(t, silent), listen(t, silent), listen(t, silent)
	evs := scan(t, Options{Ports: []int{c, a, a}, HealthTimeout: 50 * time.Millisecond})
	var got []int
	for _, ev := range evs {
		got = append(got, ev.Port)
	}
	want := []int{min(a, c), max(a, c)}
	if !slices.Equal(got, want) {
		t.Errorf("ports = %v, want %v (sorted, deduplicated, without unrequested %d)", got, want, b)
	}
}

func TestScan_InvalidPortIsAnError(t *testing.T) {
	for _, port := range []int{0, -1, 65536} {
		if _, err := Scan(context.Background(), Options{Ports: []int{port}}); err == nil {
			t.Errorf("Scan of port %d succeeded", port)
		}
	}
}

func TestScan_CancelledContextIsAnError(t *testing.T) {
	port := listen(t, silent)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := Scan(ctx, Options{Ports: []int{port}, HealthTimeout: 10 * time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("cancellation took %v to end the scan", elapsed)
	}
}

func TestHealth(t *testing.T) {
	syncPort := startHelper(t, helperSync).port
	tests := []struct {
		name    string
		port    int
		wantErr error
	}{
		{"sync daemon", syncPort, nil},
		{"closed port", closedPort(t), ErrNotListening},
		{"silent listener", listen(t, silent), ErrNoAnswer},
		{"text answer", startHelper(t, helperText).port, api.ErrNotHealth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, err := Health(context.Background(), tt.port, testHealthTimeout)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (h == nil || h.Owner == nil || h.Owner.Port != tt.port) {
				t.Errorf("health = %+v, want the daemon's own payload", h)
			}
		})
	}
}

func TestListening(t *testing.T) {
	if port := listen(t, silent); !Listening(context.Background(), port) {
		t.Errorf("Listening(%d) = false for an open listener", port)
	}
	if port := closedPort(t); Listening(context.Background(), port) {
		t.Errorf("Listening(%d) = true for a closed port", port)
	}
}

func TestDefaultsStayWithinTheScanBound(t *testing.T) {
	// SPEC §14: an all-wedged scan is bounded by one timeout, ≤ 600 ms.
	if got := DefaultConnectTimeout + DefaultHealthTimeout; got > 600*time.Millisecond {
		t.Errorf("connect + health timeout = %v, more than the 600 ms bound", got)
	}
}
