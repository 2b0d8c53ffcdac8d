package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type stopOptions struct {
	f *Factory

	Agents   []string
	StopHost bool
	NoHost   bool
}

func newCmdStop(f *Factory, runF func(*stopOptions) error) *cobra.Command {
	opts := &stopOptions{f: f}
	cmd := &cobra.Command{
		Use:   "stop AGENT...|-",
		Short: "Stop agents (and, on cloud providers, their hosts)",
		Long: `Stop each agent: TERM then KILL its processes and kill its tmux session.

On a provider that can stop hosts and is not the local provider (for example
azure), stop then also stops the agent's host (an Azure VM is deallocated, so
compute billing stops; disks and IP stay), once none of its agents runs any
more. --no-stop-host keeps such a host running; --stop-host asks for it on any
provider that can stop hosts.`,
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
			return runStop(cmd.Context(), opts)
		},
		Example: `  # Stop an agent; on Azure its VM is then deallocated
  mngr stop my-agent

  # Stop two agents but keep their host running
  mngr stop agent-a agent-b --no-stop-host`,
	}
	cmd.Flags().BoolVar(&opts.StopHost, "stop-host", false, "also stop the host, on any provider that can")
	cmd.Flags().BoolVar(&opts.NoHost, "no-stop-host", false, "keep the host running")
	return cmd
}

// stopResult is stop's JSON result.
type stopResult struct {
	StoppedAgents []string `json:"stopped_agents"`
	reportSummary
}

func runStop(ctx context.Context, opts *stopOptions) error {
	f := opts.f
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	rep := core.StopAgents(ctx, refs, core.StopOptions{StopHost: opts.StopHost, KeepHost: opts.NoHost, ListTimeout: hostListTimeout})
	return emitReport(f.IO, f.Format(), "Stopped", "stop_result", "", &rep,
		stopResult{StoppedAgents: rep.Done(), reportSummary: summarize(&rep)})
}
