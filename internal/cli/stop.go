package cli

import (
	"context"
	"fmt"

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
		Use:   "stop AGENT...",
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
			opts.Agents = args
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

func runStop(ctx context.Context, opts *stopOptions) error {
	f := opts.f
	format := f.Format()
	prog := NewProgress(f.IO, format, f.Quiet())
	ctx = core.WithProgress(ctx, prog)
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	prefix := f.Env().Prefix
	stopped := []string{}
	failures := []failure{}
	var events []any
	hostsToStop := map[core.HostID]agentRef{}
	for _, r := range refs {
		if r.Online != nil {
			done := prog.Step("stopping agent " + r.Record.Name)
			err := core.StopAgent(ctx, r.Online, prefix, r.Record)
			done(err)
			if err != nil {
				fl := newFailure(fmt.Errorf("stop agent %q: %w", r.Record.Name, err), r.Record.Name, r.Host.ID, "")
				failures = append(failures, fl)
				events = append(events, map[string]any{"event": "stop_result", "agent": r.Record.Name, "success": false, "error": fl.Message})
				continue
			}
		}
		stopped = append(stopped, r.Record.Name)
		events = append(events, map[string]any{"event": "stop_result", "agent": r.Record.Name, "success": true})
		// A host powered off from inside still bills until it is stopped
		// through the provider (on Azure: deallocated), so it is stopped
		// although it is offline.
		billing := r.Host.State == core.HostStoppedBilling
		if _, ok := r.Provider.(core.HostStopper); ok && (r.Online != nil || billing) && !opts.NoHost && (opts.StopHost || billing || !isLocal(f, r.ProviderName)) {
			hostsToStop[r.Host.ID] = r
		}
	}
	for id, r := range hostsToStop {
		// Keep a host that still runs other agents unless --stop-host says so.
		if !opts.StopHost && r.Online != nil {
			sts, err := listAgentsBounded(ctx, r.Online, prefix)
			if err == nil && anyRunning(sts) {
				prog.Warn(fmt.Sprintf("host %s keeps running: other agents run on it (use --stop-host to stop it anyway)", r.Host.Name))
				continue
			}
		}
		done := prog.Step("stopping host " + r.Host.Name)
		err := r.Provider.(core.HostStopper).StopHost(ctx, id)
		done(err)
		if err != nil {
			failures = append(failures, newFailure(fmt.Errorf("stop host %q: %w", r.Host.Name, err), r.Record.Name, id, "HOST_RESOURCE_REMAINS"))
		}
	}
	return emitFailureReport(f.IO, format, "stopped_agents", "Stopped", stopped, failures, events)
}

func anyRunning(sts []core.AgentStatus) bool {
	for _, s := range sts {
		if agentIsRunning(s.State) {
			return true
		}
	}
	return false
}
