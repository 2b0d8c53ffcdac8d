package cli

import (
	"context"

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
		Use:               "start AGENT...|-",
		Short:             "Start stopped agents, starting their hosts first when needed",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Agents, err = namesFromArgs(cmd, args); err != nil {
				return err
			}
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

// startResult is start's JSON result.
type startResult struct {
	StartedAgents []string `json:"started_agents"`
	// AlreadyRunning lists the agents that were running already and were
	// left alone (without --restart).
	AlreadyRunning []string `json:"already_running"`
	reportSummary
}

func runStart(ctx context.Context, opts *startOptions) error {
	f := opts.f
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	running := []string{}
	var todo []agentRef
	for _, r := range refs {
		if !opts.Restart && r.Online != nil && r.State.Running() {
			running = append(running, r.Record.Name)
			continue
		}
		todo = append(todo, r)
	}
	rep := core.StartAgents(ctx, todo, core.StartOptions{Restart: opts.Restart})
	if f.Format() == FormatHuman {
		for _, n := range running {
			logf(f.IO.Out, "Agent %s is already running (mngr start --restart %s restarts it)\n", n, n)
		}
	}
	return emitReport(f.IO, f.Format(), "Started", "start_result", "", &rep,
		startResult{StartedAgents: rep.Done(), AlreadyRunning: running, reportSummary: summarize(&rep)})
}
