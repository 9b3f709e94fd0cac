package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/doctor"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/queue"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// maxParkedListed bounds the listing; the count in `sync status` is exact.
const maxParkedListed = 1000

func newSyncParkedCmd(ios *IOStreams) *cobra.Command {
	var (
		asJSON, retry bool
		ids           []string
	)
	cmd := &cobra.Command{
		Use:   "parked [--retry [--event-id ID]...] [--json]",
		Short: "List the events the server will not take, or send them again",
		Long: `List the parked events of the queue: events the server refused for good
(a rejection category it calls terminal, an event too large for it, one
poisoned event in a batch, or one rejected too many times). Parked events stay
in the queue, out of the upload loop, so nothing is lost and nothing blocks
the rest.

--retry returns them (or only the --event-id ones) to the upload loop with a
fresh retry count and wakes the daemon; do it once the cause is fixed (the
server accepts the project, a newer CLI is installed).`,
		Example: `  spec-kitty sync parked
  spec-kitty sync parked --json
  spec-kitty sync parked --retry
  spec-kitty sync parked --retry --event-id 01JMBY7K8N3QRVX2DPFG5HWT4E`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(ids) > 0 && !retry {
				return usagef("--event-id needs --retry")
			}
			l, err := layout()
			if err != nil {
				return err
			}
			res := api.ParkedResult{Parked: []api.ParkedEvent{}}
			if retry {
				n, err := unpark(cmd.Context(), l, ids)
				if err != nil {
					return err
				}
				res.Retried = n
			}
			items, err := queue.ReadParked(l.QueueDB(), maxParkedListed)
			if err != nil {
				return fmt.Errorf("reading parked events: %w", err)
			}
			for _, it := range items {
				res.Parked = append(res.Parked, parkedEvent(it))
			}
			if asJSON {
				return writeJSON(ios.Out, res)
			}
			if retry {
				fmt.Fprintf(ios.ErrOut, "%s returned to the upload loop\n", doctor.Plural(res.Retried, "parked event"))
			}
			if len(res.Parked) == 0 {
				fmt.Fprintln(ios.ErrOut, "no parked events")
				return nil
			}
			for _, p := range res.Parked {
				fmt.Fprintf(ios.Out, "%s\t%s\tretries %d\t%s\n", p.EventID, p.EventType, p.RetryCount, p.LastError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the parked events as JSON")
	cmd.Flags().BoolVar(&retry, "retry", false, "return parked events to the upload loop")
	cmd.Flags().StringArrayVar(&ids, "event-id", nil, "with --retry: only this event (repeatable)")
	return cmd
}

func parkedEvent(it queue.Item) api.ParkedEvent {
	var head struct {
		EventType string `json:"event_type"`
	}
	_ = json.Unmarshal(it.Envelope, &head)
	return api.ParkedEvent{
		EventID: it.EventID, EventType: head.EventType, ProjectUUID: it.ProjectUUID,
		RetryCount: it.RetryCount, LastError: it.LastError, QueuedAt: it.CreatedAt,
	}
}

// unpark returns parked events to the upload loop and wakes the daemon
// when one runs; a daemon started later picks them up anyway.
func unpark(ctx context.Context, l paths.Layout, ids []string) (int, error) {
	if _, err := os.Stat(l.QueueDB()); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	q, err := queue.Open(l.QueueDB())
	if err != nil {
		return 0, fmt.Errorf("opening the queue: %w", err)
	}
	n, err := q.Unpark(ctx, ids)
	if cerr := q.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if rec, err := statefile.Read(l.StateFile()); err == nil && n > 0 {
		_ = client.New(rec.Port).Trigger(ctx, rec.Token) // best effort: the idle pass finds them too
	}
	return n, nil
}
