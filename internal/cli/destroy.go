package cli

import (
	"bufio"
	"context"
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
	// RemoveBranch deletes each destroyed agent's branch from the local
	// repository it was created from.
	RemoveBranch bool
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
	cmd.Flags().BoolVar(&opts.RemoveBranch, "remove-created-branch", false, "also delete the agent's branch (mngr/<name>) from your repository; by default it stays")
	return cmd
}

// destroyResult is destroy's JSON result.
type destroyResult struct {
	DestroyedAgents []string `json:"destroyed_agents"`
	reportSummary
}

func runDestroy(ctx context.Context, opts *destroyOptions) error {
	f := opts.f
	format := f.Format()
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	if !opts.Force {
		var running []string
		for _, r := range refs {
			if r.State.Running() {
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
	rep := core.DestroyAgents(ctx, refs, core.DestroyOptions{SkipGC: opts.NoGC, ListTimeout: hostListTimeout})
	newAgentCache(f).dropNames(rep.Done())
	if opts.RemoveBranch {
		removeCreatedBranches(ctx, refs, rep.Done())
	}
	return emitReport(f.IO, format, "Destroyed", "destroy_result", "", &rep,
		destroyResult{DestroyedAgents: rep.Done(), reportSummary: summarize(&rep)})
}

// removeCreatedBranches deletes the branches of the destroyed agents from
// the repositories they were created from; a branch that cannot go is a
// warning (the agent is gone either way).
func removeCreatedBranches(ctx context.Context, refs []agentRef, destroyed []string) {
	prog := core.ProgressFrom(ctx)
	for _, r := range refs {
		if !containsStr(destroyed, r.Record.Name) {
			continue
		}
		deleted, err := core.RemoveCreatedBranch(ctx, r.Record)
		switch {
		case err != nil:
			prog.Warn(fmt.Sprintf("%v (delete it with: git -C %s branch -D %s)", err, r.Record.SourcePath, r.Record.CreatedBranchName))
		case deleted:
			core.Note(ctx, fmt.Sprintf("deleted branch %s of agent %s from %s", r.Record.CreatedBranchName, r.Record.Name, r.Record.SourcePath))
		}
	}
}
