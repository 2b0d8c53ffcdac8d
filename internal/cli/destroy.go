package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type destroyOptions struct {
	f *Factory

	Agents []string
	Force  bool
	NoGC   bool
}

func newCmdDestroy(f *Factory, runF func(*destroyOptions) error) *cobra.Command {
	opts := &destroyOptions{f: f}
	cmd := &cobra.Command{
		Use:     "destroy AGENT...",
		Aliases: []string{"rm"},
		Short:   "Destroy agents, their state and (on cloud providers) empty hosts",
		Long: `Destroy each agent: stop it and delete its state dir. A non-local host
left with no agents is destroyed too, and an agent on an offline host is
destroyed by destroying its whole host. Running agents need -f (on a
terminal you are asked instead). Afterwards gc runs for the providers
involved unless --no-gc.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agents = args
			if runF != nil {
				return runF(opts)
			}
			return runDestroy(cmd.Context(), opts)
		},
		Example: `  # Destroy a stopped agent (and its VM once no agent is left on it)
  mngr destroy my-agent

  # Destroy a running agent without being asked
  mngr destroy -f my-agent

  # Destroy two agents and skip the garbage collection afterwards
  mngr rm -f agent-a agent-b --no-gc`,
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "destroy running agents without asking")
	cmd.Flags().BoolVar(&opts.NoGC, "no-gc", false, "skip garbage collection afterwards")
	return cmd
}

func runDestroy(ctx context.Context, opts *destroyOptions) error {
	f := opts.f
	format := f.Format()
	prog := NewProgress(f.IO, format, f.Quiet())
	ctx = core.WithProgress(ctx, prog)
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	if !opts.Force {
		var running []string
		for _, r := range refs {
			if agentIsRunning(r.State) {
				running = append(running, r.Record.Name)
			}
		}
		if len(running) > 0 {
			if !f.IO.InIsTerminal || !f.IO.ErrIsTerminal || format != FormatHuman {
				return core.WithHint(fmt.Errorf("refusing to destroy running agent(s) %s without -f: %w", strings.Join(running, ", "), core.ErrInvalidInput),
					"stop them first with 'mngr stop', or pass -f")
			}
			_, _ = fmt.Fprintf(f.IO.ErrOut, "Destroy running agent(s) %s? [y/N] ", strings.Join(running, ", "))
			line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				return fmt.Errorf("destroy cancelled")
			}
		}
	}
	prefix := f.Env().Prefix
	destroyed := []string{}
	failures := []failure{}
	var events []any
	providers := map[string]core.Provider{}
	touchedHosts := map[core.HostID]agentRef{}
	destroyedHosts := map[core.HostID]bool{}
	for _, r := range refs {
		providers[r.ProviderName] = r.Provider
		local := isLocal(f, r.ProviderName)
		var err error
		switch {
		case r.Online != nil:
			done := prog.Step("destroying agent " + r.Record.Name)
			err = core.DestroyAgent(ctx, r.Online, prefix, r.Record)
			done(err)
			if err == nil && !local {
				touchedHosts[r.Host.ID] = r
			}
		case destroyedHosts[r.Host.ID]:
		case local:
			err = fmt.Errorf("local host is not reachable: %w", core.ErrHostOffline)
		default:
			done := prog.Step("destroying offline host " + r.Host.Name)
			err = r.Provider.DestroyHost(ctx, r.Host.ID)
			done(err)
			if err == nil {
				destroyedHosts[r.Host.ID] = true
			}
		}
		if err == nil {
			if ap, ok := r.Provider.(core.AgentPersister); ok {
				if perr := ap.RemovePersistedAgent(ctx, r.Host.ID, r.Record.ID); perr != nil && !destroyedHosts[r.Host.ID] && !errors.Is(perr, core.ErrNotSupported) {
					prog.Warn(fmt.Sprintf("could not remove the persisted record of %s: %v", r.Record.Name, perr))
				}
			}
		}
		if err != nil {
			fl := newFailure(fmt.Errorf("destroy agent %q: %w", r.Record.Name, err), r.Record.Name, r.Host.ID, "")
			failures = append(failures, fl)
			events = append(events, map[string]any{"event": "destroy_result", "agent": r.Record.Name, "success": false, "error": fl.Message})
			continue
		}
		destroyed = append(destroyed, r.Record.Name)
		events = append(events, map[string]any{"event": "destroy_result", "agent": r.Record.Name, "success": true})
	}
	for id, r := range touchedHosts {
		sts, err := listAgentsBounded(ctx, r.Online, prefix)
		if err != nil {
			failures = append(failures, newFailure(err, "", id, "HOST_RESOURCE_REMAINS"))
			continue
		}
		if len(sts) > 0 {
			continue
		}
		done := prog.Step("destroying empty host " + r.Host.Name)
		err = r.Provider.DestroyHost(ctx, id)
		done(err)
		if err != nil {
			failures = append(failures, newFailure(fmt.Errorf("destroy host %q: %w", r.Host.Name, err), "", id, "HOST_RESOURCE_REMAINS"))
		}
	}
	if !opts.NoGC {
		for name, p := range providers {
			gcer, ok := p.(core.GarbageCollector)
			if !ok {
				continue
			}
			done := prog.Step("collecting garbage on " + name)
			_, err := gcer.CollectGarbage(ctx, false)
			done(err)
			if err != nil {
				prog.Warn(fmt.Sprintf("gc on %s: %v", name, err))
			}
		}
	}
	return emitFailureReport(f.IO, format, "destroyed_agents", "Destroyed", destroyed, failures, events)
}
