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
	// repository it was created from, when no commit is lost by it.
	RemoveBranch bool
	// ForceRemoveBranch deletes the branch even when it holds commits no
	// other ref reaches.
	ForceRemoveBranch bool
}

func newCmdDestroy(f *Factory, runF func(*destroyOptions) error) *cobra.Command {
	opts := &destroyOptions{f: f}
	cmd := &cobra.Command{
		Use:     "destroy AGENT...|-",
		Aliases: []string{"rm"},
		Short:   "Destroy agents, their state and (on cloud providers) empty hosts",
		Long: `Destroy each agent: stop it and delete its state dir. A non-local host
left with no agents is destroyed too, and an agent on an offline host is
destroyed by destroying its whole host. Running agents need -f (on a
terminal you are asked instead). Afterwards gc runs for the providers
involved unless --no-gc.

The agent's branch (mngr/<name>) in your repository is deleted when it
holds no commits of its own (all are reachable from another branch or tag),
and kept when it does. --remove-created-branch deletes a branch whose
commits another ref reaches and refuses, listing them, one holding commits
nothing else reaches; --force-remove-branch deletes it anyway. Whenever a
branch is deleted its last SHA is printed: git branch NAME SHA restores it.`,
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
			return runDestroy(cmd.Context(), opts)
		},
		Example: `  # Destroy a stopped agent (and its VM once no agent is left on it)
  mngr destroy my-agent

  # Destroy a running agent without being asked
  mngr destroy -f my-agent

  # Destroy two agents and skip the garbage collection afterwards
  mngr rm -f agent-a agent-b --no-gc

  # Destroy an agent and its branch, whose commits are merged
  mngr destroy -f --remove-created-branch my-agent`,
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "destroy running agents without asking")
	cmd.Flags().BoolVar(&opts.NoGC, "no-gc", false, "skip garbage collection afterwards")
	cmd.Flags().BoolVar(&opts.RemoveBranch, "remove-created-branch", false, "also delete the agent's branch (mngr/<name>) when another ref reaches all its commits; by default a branch with commits of its own stays")
	cmd.Flags().BoolVar(&opts.ForceRemoveBranch, "force-remove-branch", false, "delete the agent's branch even when commits only it reaches are lost (their last SHA is printed)")
	return cmd
}

// destroyResult is destroy's JSON result.
type destroyResult struct {
	DestroyedAgents []string `json:"destroyed_agents"`
	// DeletedBranches are the agents' branches deleted, with their last SHA.
	DeletedBranches []deletedBranch `json:"deleted_branches"`
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
	deleted := handleCreatedBranches(ctx, f, refs, &rep, core.BranchRemovalOptions{Requested: opts.RemoveBranch || opts.ForceRemoveBranch, Force: opts.ForceRemoveBranch})
	var gone []core.AgentID
	for _, r := range refs {
		if containsStr(rep.Done(), r.Record.Name) {
			gone = append(gone, r.Record.ID)
		}
	}
	newAgentOrigins(f).drop(gone)
	return emitReport(f.IO, format, "Destroyed", "destroy_result", "", &rep,
		destroyResult{DestroyedAgents: rep.Done(), DeletedBranches: deleted, reportSummary: summarize(&rep)})
}

// deletedBranch is one deleted branch in destroy's JSON result.
type deletedBranch struct {
	Agent  string `json:"agent"`
	Branch string `json:"branch"`
	Repo   string `json:"repo"`
	SHA    string `json:"sha"`
}

// handleCreatedBranches applies core.RemoveCreatedBranch to the branch of
// each destroyed agent: a deleted one is noted with its last SHA, a kept
// one with commits of its own is noted, and a refused or failed removal is
// a failure in rep (the agent is gone either way). The repository and the
// branch are the ones this machine recorded at create (origins.go).
func handleCreatedBranches(ctx context.Context, f *Factory, refs []agentRef, rep *core.Report, opts core.BranchRemovalOptions) []deletedBranch {
	prog := core.ProgressFrom(ctx)
	deleted := []deletedBranch{}
	destroyed := rep.Done()
	for _, r := range refs {
		if !containsStr(destroyed, r.Record.Name) {
			continue
		}
		// The repository and the branch are the ones this machine recorded
		// at create, never a remote host's word (trustedForLocalAction).
		rec, err := trustedForLocalAction(ctx, f, r.Record, core.CapabilitiesOf(r.Provider).HostIsThisMachine)
		if err != nil {
			if opts.Requested {
				prog.Warn(fmt.Sprintf("not deleting a branch: %v", err))
			}
			continue
		}
		if rec.SourcePath == "" && rec.CreatedBranchName != "" {
			if opts.Requested {
				prog.Warn(fmt.Sprintf("not deleting branch %s of agent %s: this machine did not create the agent, and a host's record does not choose what mngr deletes here",
					core.Printable(r.Record.CreatedBranchName), core.Printable(r.Record.Name)))
			}
			continue
		}
		br, err := core.RemoveCreatedBranch(ctx, rec, opts)
		switch {
		case err != nil && !opts.Requested:
			// Tidying an empty branch nobody asked to remove (git refuses
			// one checked out somewhere, say) is not worth a failure.
			core.Note(ctx, fmt.Sprintf("kept branch %s of agent %s in %s: %v", br.Branch, br.Agent, br.Repo, err))
		case err != nil:
			if core.HintOf(err) == "" {
				err = core.WithHint(err, "delete it with: git -C %s branch -D %s (its last commit is %s)", br.Repo, br.Branch, br.SHA)
			}
			rep.Failures = append(rep.Failures, core.NewFailure(err, r.Record.Name, r.Host.ID, core.CategoryOther))
		case br.Deleted:
			deleted = append(deleted, deletedBranch{Agent: br.Agent, Branch: br.Branch, Repo: br.Repo, SHA: br.SHA})
			core.Note(ctx, fmt.Sprintf("deleted branch %s of agent %s from %s (it was at %s; restore it with: git -C %s branch %s %s)",
				br.Branch, br.Agent, br.Repo, br.SHA, br.Repo, br.Branch, br.SHA))
		case br.SHA != "":
			core.Note(ctx, fmt.Sprintf("kept branch %s of agent %s in %s: %d commit(s) of its own, last %s (bring them in with git merge %s, or delete it with git branch -D %s)",
				br.Branch, br.Agent, br.Repo, len(br.Own), br.SHA, br.Branch, br.Branch))
		}
	}
	return deleted
}
