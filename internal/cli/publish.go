package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spec-kitty/spec-kitty/internal/client"
	"github.com/spec-kitty/spec-kitty/internal/events"
	"github.com/spec-kitty/spec-kitty/internal/lifecycle"
	"github.com/spec-kitty/spec-kitty/internal/session"
	"github.com/spec-kitty/spec-kitty/internal/statefile"
)

// maxStdinPayload bounds a payload read from stdin: twice the largest
// event, so an oversized one is refused by the size rule with its size,
// while a runaway pipe cannot fill memory.
const maxStdinPayload = 2 * events.MaxEnvelopeBytes

// configShape is the `project:` section of .kittify/config.yaml that
// events.LoadProject reads, for the help and the error of a directory
// without one.
const configShape = `  project:
    uuid: 6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b  # required: the project's id (a UUID)
    slug: my-project                            # optional: project_slug of its events
    repo_slug: my-org/my-project                # optional: repo_slug of its events
    node_id: 1a2b3c4d5e6f                       # optional: default from host and user
    build_id: <UUID>                            # optional: default from uuid and node_id`

type publishOptions struct {
	Type, AggregateID, AggregateType string
	Payload, Project, EventID        string
	JSON                             bool
}

func newSyncPublishCmd(ios *IOStreams) *cobra.Command {
	var opts publishOptions
	cmd := &cobra.Command{
		Use:   "publish --type TYPE --aggregate-id ID --aggregate-type KIND [--payload JSON] [--project DIR] [--event-id ULID]",
		Short: "Queue one spec-kitty-events envelope for upload (starts the daemon if needed)",
		Long: `Build one spec-kitty-events 6.x envelope and queue it in the scope's durable
queue through the sync daemon, starting the daemon first if needed. An
unknown type, a payload that breaks its type's schema, or an event over
512 KiB is refused before anything is queued, with one line naming the
field; an unknown type is answered with the valid ones, and --type
completes them in the shell.

The project identity comes from <project>/.kittify/config.yaml, found in
the project directory or the nearest parent that has one. The spec-kitty
CLI writes it when it initialises a project; by hand it looks like this:

` + configShape + `

The event id is printed once the event is on disk. If the outcome is unknown
(the daemon took the request and never answered), the command says the event
"may have been queued" and exits 1: run it again with --event-id and the same
id, and the event is queued at most once. An event delivered in the last 30
days is not queued again: the command says "already delivered" and exits 0.`,
		Example: `  spec-kitty sync publish --type WPStatusChanged --aggregate-id WP01 --aggregate-type WorkPackage \
    --payload '{"mission_slug":"m","wp_id":"WP01","from_lane":"planned","to_lane":"claimed","actor":"me","execution_mode":"worktree"}'
  spec-kitty sync publish --event-id 01JMBY7K8N3QRVX2DPFG5HWT4E --type ... # retry, queued at most once`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []struct{ name, value string }{
				{"--type", opts.Type}, {"--aggregate-id", opts.AggregateID}, {"--aggregate-type", opts.AggregateType},
			} {
				if f.value == "" {
					return usagef("%s is required", f.name)
				}
			}
			if cmd.Flags().Changed("payload") && cmd.Flags().Changed("data") {
				return usagef("--data is an alias of --payload: give one of them")
			}
			if opts.Payload == "-" {
				data, err := io.ReadAll(io.LimitReader(ios.In, maxStdinPayload+1))
				if err != nil {
					return fmt.Errorf("reading the payload from stdin: %w", err)
				}
				if len(data) > maxStdinPayload {
					return fmt.Errorf("%w: payload: more than %d bytes on stdin", events.ErrInvalid, maxStdinPayload)
				}
				opts.Payload = string(data)
			}
			if strings.TrimSpace(opts.Payload) != "" && !json.Valid([]byte(opts.Payload)) {
				return usagef("--payload: not valid JSON: %.60q", opts.Payload)
			}
			return runPublish(cmd, ios, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Type, "type", "", "event type (spec-kitty-events), e.g. WPStatusChanged")
	f.StringVar(&opts.AggregateID, "aggregate-id", "", "the entity the event is about, e.g. WP01")
	f.StringVar(&opts.AggregateType, "aggregate-type", "", "its kind: "+strings.Join(events.AggregateTypes, ", "))
	f.StringVar(&opts.Payload, "payload", "", "event payload as a JSON object (default {}); - reads it from stdin")
	f.StringVar(&opts.Payload, "data", "", "alias of --payload")
	f.StringVar(&opts.Project, "project", "", "project directory holding .kittify/config.yaml (default: the current directory)")
	f.StringVar(&opts.EventID, "event-id", "", "event id (ULID) to use; a retry with the same id queues nothing new")
	f.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	completeWords(cmd, "type", events.Types)
	completeWords(cmd, "aggregate-type", func() []string { return events.AggregateTypes })
	return cmd
}

// completeWords makes the shell complete flag name with the words list
// returns that start with what was typed, and never with file names.
func completeWords(cmd *cobra.Command, name string, list func() []string) {
	_ = cmd.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, w := range list() {
			if strings.HasPrefix(w, typed) {
				out = append(out, w)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	})
}

func runPublish(cmd *cobra.Command, ios *IOStreams, opts publishOptions) error {
	dir := opts.Project
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("reading the current directory: %w", err)
		}
		dir = wd
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving project %s: %w", opts.Project, err)
	}
	project, err := events.LoadProject(dir)
	if errors.Is(err, events.ErrNoProject) {
		return fmt.Errorf("reading the project identity: %w; a project's .kittify/config.yaml holds a 'project:' section with at least 'uuid: <UUID>' (see spec-kitty sync publish --help)", err)
	}
	if err != nil {
		return fmt.Errorf("reading the project identity: %w", err)
	}
	eo, err := ensureOptions()
	if err != nil {
		return err
	}
	_, raw, err := events.Build(events.Request{
		Type:          opts.Type,
		AggregateID:   opts.AggregateID,
		AggregateType: opts.AggregateType,
		Payload:       json.RawMessage(opts.Payload),
		EventID:       opts.EventID,
		Project:       project,
		Team:          sessionTeam(eo),
	})
	if err != nil {
		return err // one line naming the field; nothing queued
	}
	var head struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(raw, &head)

	res, err := lifecycle.EnsureRunning(cmd.Context(), eo)
	if err != nil {
		return fmt.Errorf("%w; event %s not queued", startError(err), head.EventID)
	}
	if res.SkippedReason != nil {
		return fmt.Errorf("sync daemon not started (%s); event %s not queued", *res.SkippedReason, head.EventID)
	}
	notes(ios, res.Notes)
	rec, err := statefile.Read(eo.Layout.StateFile())
	if err != nil {
		return fmt.Errorf("reading state file: %w; event %s not queued", err, head.EventID)
	}
	out, err := client.New(rec.Port).Publish(cmd.Context(), rec.Token, raw)
	switch {
	case errors.Is(err, client.ErrMaybeQueued):
		return fmt.Errorf("event %s may have been queued (the daemon did not answer: %v); run the same command with --event-id %s to make sure it is queued once",
			head.EventID, strings.TrimPrefix(err.Error(), client.ErrMaybeQueued.Error()+": "), head.EventID)
	case err != nil:
		return fmt.Errorf("publishing event %s: %w", head.EventID, err)
	}
	if opts.JSON {
		return writeJSON(ios.Out, out)
	}
	fmt.Fprintln(ios.Out, out.EventID)
	switch {
	case out.Existed:
		fmt.Fprintf(ios.ErrOut, "event %s was already queued; nothing new queued\n", out.EventID)
	case out.AlreadyDelivered:
		fmt.Fprintf(ios.ErrOut, "event %s was already delivered; nothing queued\n", out.EventID)
	}
	return nil
}

// sessionTeam is the Private Teamspace of the current login, or "" when
// there is none or it cannot be read: an event is never stamped with a
// shared team. It only reads the session: a publish never
// refreshes the login nor writes the Python CLI's files (the daemon
// refreshes before it uploads, and the uploader fills the team from the
// session it sends with where this left it empty).
func sessionTeam(eo lifecycle.Options) string {
	s, err := session.Describe(eo.Layout.SessionFile(), nil)
	if err != nil || s == nil {
		return ""
	}
	return session.PrivateTeam(s.Teams)
}
