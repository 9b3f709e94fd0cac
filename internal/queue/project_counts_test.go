package queue

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/spec-kitty/spec-kitty/internal/events"
)

// TestReadProjectCounts_OnlyThatProject: a dashboard shows its project's
// share of the scope's queue: queued and parked events of that project
// only, read without opening the queue for writing.
func TestReadProjectCounts_OnlyThatProject(t *testing.T) {
	const other = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
	q, path := openTemp(t)
	ctx := context.Background()
	var mine []string
	for i, project := range []string{testProject, testProject, testProject, other} {
		env, _, err := events.Build(events.Request{Type: "ErrorLogged", AggregateID: "a", AggregateType: "Mission",
			Payload: json.RawMessage(`{"error_type":"x","error_message":"y"}`), Project: events.Project{UUID: project, BuildID: "b"}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := q.Publish(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			mine = append(mine, p.EventID)
		}
	}
	if err := q.Park(ctx, mine[:1], "refused"); err != nil {
		t.Fatal(err)
	}
	if c, err := ReadProjectCounts(path, testProject); err != nil || c != (Counts{Depth: 3, Parked: 1}) {
		t.Errorf("ReadProjectCounts(mine) = %+v, %v; want 3 queued, 1 parked", c, err)
	}
	if c, err := ReadProjectCounts(path, other); err != nil || c != (Counts{Depth: 1}) {
		t.Errorf("ReadProjectCounts(other) = %+v, %v; want 1 queued", c, err)
	}
	if c, err := ReadCounts(path); err != nil || c != (Counts{Depth: 4, Parked: 1}) {
		t.Errorf("ReadCounts = %+v, %v; want the whole queue", c, err)
	}
}
