package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type startOptions struct {
	f *Factory

	Agents  []string
	Restart bool
}

func newCmdStart(f *Factory, runF func(*startOptions) error) *cobra.Command {
	opts := &startOptions{f: f}
	cmd := &cobra.Command{
		Use:               "start AGENT...",
		Short:             "Start stopped agents, starting their hosts first when needed",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agents = args
			if runF != nil {
				return runF(opts)
			}
			return runStart(cmd.Context(), opts)
		},
		Example: `  # Start a stopped agent, starting its deallocated VM first
  mngr start my-agent

  # Stop a running agent and start it again
  mngr start my-agent --restart`,
	}
	cmd.Flags().BoolVar(&opts.Restart, "restart", false, "stop running agents first, then start them")
	return cmd
}

func runStart(ctx context.Context, opts *startOptions) error {
	f := opts.f
	format := f.Format()
	prog := NewProgress(f.IO, format, f.Quiet())
	ctx = core.WithProgress(ctx, prog)
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	prefix := f.Env().Prefix
	started := []string{}
	var events []any
	var firstErr error
	for i := range refs {
		r := &refs[i]
		wasOffline := r.Online == nil
		h, err := onlineHost(ctx, r, true)
		if err == nil && opts.Restart && !wasOffline && agentIsRunning(r.State) {
			err = core.StopAgent(ctx, h, prefix, r.Record)
		}
		if err == nil {
			done := prog.Step("starting agent " + r.Record.Name)
			err = core.StartAgent(ctx, h, prefix, r.Record)
			done(err)
		}
		if err != nil {
			err = fmt.Errorf("start agent %q: %w", r.Record.Name, err)
			events = append(events, map[string]any{"event": "start_result", "agent": r.Record.Name, "success": false, "error": err.Error()})
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		started = append(started, r.Record.Name)
		events = append(events, map[string]any{"event": "start_result", "agent": r.Record.Name, "success": true})
	}
	out := map[string]any{"started_agents": started, "count": len(started)}
	if err := Emit(f.IO, format, func(w io.Writer) error {
		for _, n := range started {
			logf(w, "Started agent: %s\n", n)
		}
		_, err := fmt.Fprintf(w, "Successfully started %d agent(s)\n", len(started))
		return err
	}, out, events); err != nil {
		return err
	}
	return firstErr
}
