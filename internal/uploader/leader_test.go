package uploader

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spec-kitty/spec-kitty/internal/batchtest"
)

// An uploader whose daemon does not hold the upload lock sends nothing,
// however often it is woken, is never busy with the queue, and takes over
// as soon as the lock is its own.
func TestRun_SendsOnlyWhileItMayUpload(t *testing.T) {
	var may atomic.Bool
	var asked atomic.Int64
	r := newRig(t, nil, func(c *Config) {
		c.Standby = 5 * time.Millisecond
		c.MayUpload = func() bool { asked.Add(1); return may.Load() }
	})
	ids := r.publish(projectA, 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.u.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(waitFor)
	for asked.Load() < 20 {
		r.u.Notify()
		r.u.Trigger()
		if time.Now().After(deadline) {
			t.Fatalf("MayUpload asked %d times", asked.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if n := r.srv.Requests(); n != 0 {
		t.Fatalf("%d batches sent by an uploader without the upload lock", n)
	}
	if r.u.Busy() || r.u.Status().Uploader {
		t.Errorf("without the lock: Busy %v, Status().Uploader %v; want false, false", r.u.Busy(), r.u.Status().Uploader)
	}
	may.Store(true) // the holder exited
	for r.counts().Depth != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new holder did not drain the queue")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.assertOnce(ids)
	if !r.u.Status().Uploader {
		t.Error("Status().Uploader = false for the holder")
	}
}

// Events go only to the Private Teamspace: without one they stay queued,
// unsent, without counting as a failure or keeping the daemon busy, and
// go out once the login has one.
func TestWithheld_WithoutPrivateTeamspace(t *testing.T) {
	var teams []any
	r := newRig(t, nil)
	r.srv.SetScript(func(req batchtest.Request) batchtest.Answer {
		for _, e := range req.Events {
			teams = append(teams, e["team_slug"])
		}
		return batchtest.Answer{}
	})
	r.p.noTeam = true
	ids := r.publish(projectA, 2)
	if _, backingOff := r.u.drain(context.Background()); backingOff {
		t.Error("withholding counted as a failure")
	}
	if r.srv.Requests() != 0 || r.counts().Depth != 2 {
		t.Fatalf("%d requests, depth %d: events left without a Private Teamspace", r.srv.Requests(), r.counts().Depth)
	}
	if !r.u.Withheld() || r.u.Busy() || r.u.Status().ConsecutiveFailures != 0 {
		t.Errorf("Withheld %v, Busy %v, failures %d; want true, false, 0", r.u.Withheld(), r.u.Busy(), r.u.Status().ConsecutiveFailures)
	}
	if !strings.Contains(r.log.String(), MissingPrivateTeam) {
		t.Errorf("no %s log line: %s", MissingPrivateTeam, r.log.String())
	}
	r.p.noTeam = false
	r.drain(3)
	r.assertOnce(ids)
	for _, team := range teams {
		if team != "team-t" {
			t.Errorf("team_slug %v, want the Private Teamspace team-t", team)
		}
	}
	if r.u.Withheld() {
		t.Error("still Withheld after the login gained a Private Teamspace")
	}
}
