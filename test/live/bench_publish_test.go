//go:build linux

package live

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
	"github.com/spec-kitty/spec-kitty/internal/testenv"
)

// BenchmarkPublishThroughDaemon publishes events through a real daemon's
// control plane, each durable in the SQLite queue before the reply, and
// reports throughput and the p50/p99 latency of one publish.
func BenchmarkPublishThroughDaemon(b *testing.B) {
	e := testenv.New(b)
	var res api.StartResult
	e.MustJSON(&res, "sync", "start", "--json")
	rec, err := statefile.Read(e.Path("sync-daemon"))
	if err != nil {
		b.Fatal(err)
	}
	c := client.New(rec.Port)
	var lat []time.Duration
	for b.Loop() {
		// A fresh event each time: the same event_id would be an
		// idempotent retry that queues nothing.
		_, event, err := events.Build(events.Request{Type: "ErrorLogged", AggregateID: "bench", AggregateType: "Mission",
			Payload: json.RawMessage(`{"error_type":"bench","error_message":"a typical small payload"}`),
			Project: events.Project{UUID: testProject, BuildID: "bench"}})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := c.Publish(context.Background(), rec.Token, event); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	total := time.Duration(0)
	for _, d := range lat {
		total += d
	}
	b.ReportMetric(float64(len(lat))/total.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
