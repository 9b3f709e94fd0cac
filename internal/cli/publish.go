package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

type publishOptions struct {
	Type, Data string
	JSON       bool
}

func newSyncPublishCmd(ios *IOStreams) *cobra.Command {
	var opts publishOptions
	cmd := &cobra.Command{
		Use:   "publish --type TYPE [--data JSON]",
		Short: "Queue one event for upload (starts the daemon if needed)",
		Long: `Queue one event in the scope's durable queue through the sync daemon,
starting the daemon first if needed. The event is on disk when this returns;
it is uploaded when a session exists (spec-kitty auth login).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Type == "" {
				return usagef("--type is required")
			}
			data := json.RawMessage("null")
			if opts.Data != "" {
				if !json.Valid([]byte(opts.Data)) {
					return usagef("--data is not valid JSON: %.60q", opts.Data)
				}
				data = json.RawMessage(opts.Data)
			}
			return runPublish(cmd, ios, opts, data)
		},
	}
	cmd.Flags().StringVar(&opts.Type, "type", "", "event type")
	cmd.Flags().StringVar(&opts.Data, "data", "", "event payload as JSON")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func runPublish(cmd *cobra.Command, ios *IOStreams, opts publishOptions, data json.RawMessage) error {
	eo, err := ensureOptions()
	if err != nil {
		return err
	}
	res, err := lifecycle.EnsureRunning(cmd.Context(), eo)
	if err != nil {
		return fmt.Errorf("starting sync daemon: %w", err)
	}
	if res.SkippedReason != nil {
		return fmt.Errorf("sync daemon not started (%s); event not published", *res.SkippedReason)
	}
	notes(ios, res.Notes)
	rec, err := statefile.Read(eo.Layout.StateFile())
	if err != nil {
		return fmt.Errorf("reading state file: %w", err)
	}
	event, _ := json.Marshal(map[string]any{"type": opts.Type, "data": data})
	out, err := client.New(rec.Port).Publish(cmd.Context(), rec.Token, event)
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	if opts.JSON {
		return writeJSON(ios.Out, out)
	}
	fmt.Fprintf(ios.Out, "queued event %s (%d waiting)\n", out.ID, out.QueueDepth)
	return nil
}
