//go:build unix

package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// envChildQueue makes the test binary a publisher child for
// TestPublish_SurvivesSIGKILL.
const envChildQueue = "SPEC_KITTY_QUEUE_TEST_CHILD"

// TestPublisherChild is not a test: run by TestPublish_SurvivesSIGKILL as a
// child process, it publishes until killed and prints each id once Publish
// has returned.
func TestPublisherChild(t *testing.T) {
	path := os.Getenv(envChildQueue)
	if path == "" {
		t.Skip("helper process")
	}
	q, err := Open(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for {
		p, err := q.Publish(context.Background(), envelope(t, ""))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(p.EventID)
	}
}

func TestPublish_SurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPublisherChild$")
	cmd.Env = append(os.Environ(), envChildQueue+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// Kill the child mid-stream, after it has reported some publishes.
	const reported = 50
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < reported && sc.Scan() {
		acked = append(acked, sc.Text())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // ids printed before the kill landed
		acked = append(acked, sc.Text())
	}
	_ = cmd.Wait()
	if len(acked) < reported {
		t.Fatalf("child reported only %d publishes: %v", len(acked), acked)
	}

	q, err := Open(path)
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer q.Close()
	events, err := q.Peek(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	queued := make(map[string]bool, len(events))
	for _, ev := range events {
		queued[ev.EventID] = true
	}
	for _, id := range acked {
		if !queued[id] {
			t.Errorf("event %s was acknowledged before the kill but is not queued", id)
		}
	}
}
