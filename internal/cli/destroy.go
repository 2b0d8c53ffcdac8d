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
	// Hosts are @HOST[.PROVIDER] arguments: whole hosts to destroy.
	Hosts []string
	Force bool
	NoGC  bool
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
		Use:     "destroy AGENT...|@HOST[.PROVIDER]...|-",
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
branch is deleted its last SHA is printed: git branch NAME SHA restores it.

@HOST (or @HOST.PROVIDER, or @ and the host's id) destroys a whole host with
every agent on it, also a host with no agent left (say what an interrupted
create left). The local host is never destroyed.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := namesFromArgs(cmd, args)
			if err != nil {
				return err
			}
			for _, a := range names {
				if strings.HasPrefix(a, "@") {
					opts.Hosts = append(opts.Hosts, a)
				} else {
					opts.Agents = append(opts.Agents, a)
				}
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
  mngr destroy -f --remove-created-branch my-agent

  # Destroy a whole Azure host with all its agents
  mngr destroy -f @my-agent-host.azure`,
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
	// DestroyedHosts are the hosts destroyed whole (@HOST).
	DestroyedHosts []string `json:"destroyed_hosts"`
	// DeletedBranches are the agents' branches deleted, with their last SHA.
	DeletedBranches []deletedBranch `json:"deleted_branches"`
	reportSummary
}

func runDestroy(ctx context.Context, opts *destroyOptions) error {
	f := opts.f
	format := f.Format()
	var refs []agentRef
	if len(opts.Agents) > 0 {
		var err error
		if refs, err = resolveAgents(ctx, f, opts.Agents); err != nil {
			return err
		}
	}
	hosts, onHosts, err := resolveHostTargets(ctx, f, opts.Hosts)
	if err != nil {
		return err
	}
	if !opts.Force {
		var running []string
		for _, r := range append(append([]agentRef{}, refs...), onHosts...) {
			if r.State.Running() && !containsStr(running, r.Record.Name) {
				running = append(running, r.Record.Name)
			}
		}
		if err := confirmRunning(f, "destroy", running); err != nil {
			return err
		}
	}
	var rep core.Report
	var destroyedHosts []string
	for _, t := range hosts {
		var agents []agentRef
		for _, r := range onHosts {
			if r.ProviderName == t.ProviderName && r.Host.ID == t.Host.ID {
				agents = append(agents, r)
			}
		}
		if err := core.DestroyWholeHost(ctx, t.Provider, t.ProviderName, t.Host, agents); err != nil {
			rep.Failures = append(rep.Failures, core.NewFailure(err, "", t.Host.ID, core.CategoryHostResourceRemains))
			continue
		}
		destroyedHosts = append(destroyedHosts, t.Host.Name)
		for _, a := range agents {
			rep.Results = append(rep.Results, core.AgentResult{Agent: a.Record.Name, Success: true})
		}
	}
	// Agents named on their own whose host already went are done.
	var rest []agentRef
	for _, r := range refs {
		if !containsStr(rep.Done(), r.Record.Name) {
			rest = append(rest, r)
		}
	}
	if len(rest) > 0 || len(hosts) == 0 {
		ar := core.DestroyAgents(ctx, rest, core.DestroyOptions{SkipGC: opts.NoGC, ListTimeout: hostListTimeout})
		rep.Results = append(rep.Results, ar.Results...)
		rep.Failures = append(rep.Failures, ar.Failures...)
	}
	deleted := forgetDestroyed(ctx, f, append(refs, onHosts...), &rep, core.BranchRemovalOptions{Requested: opts.RemoveBranch || opts.ForceRemoveBranch, Force: opts.ForceRemoveBranch})
	tail := ""
	for _, h := range destroyedHosts {
		tail += "Destroyed host: " + h + "\n"
	}
	if destroyedHosts == nil {
		destroyedHosts = []string{}
	}
	return emitReport(f.IO, format, "Destroyed", "destroy_result", strings.TrimSuffix(tail, "\n"), &rep,
		destroyResult{DestroyedAgents: rep.Done(), DestroyedHosts: destroyedHosts, DeletedBranches: deleted, reportSummary: summarize(&rep)})
}

// confirmRunning asks on a terminal before verb acts on running agents,
// and refuses without -f anywhere else (a pipe, json output).
func confirmRunning(f *Factory, verb string, running []string) error {
	if len(running) == 0 {
		return nil
	}
	if !f.IO.InIsTerminal || !f.IO.ErrIsTerminal || f.Format() != FormatHuman {
		return core.WithHint(fmt.Errorf("refusing to %s running agent(s) %s without -f: %w", verb, strings.Join(running, ", "), core.ErrInvalidInput),
			"stop them first with 'mngr stop', or pass -f")
	}
	return askYes(f, fmt.Sprintf("%s running agent(s) %s?", capitalize(verb), strings.Join(running, ", ")), verb)
}

// askYes asks question on the terminal; anything but y or yes cancels.
func askYes(f *Factory, question, verb string) error {
	_, _ = fmt.Fprintf(f.IO.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return fmt.Errorf("%s cancelled", verb)
	}
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// resolveHostTargets finds the hosts of @HOST arguments and the agents on
// them (each host's live agents, or the records kept beside an offline
// one). The local host is refused here, before anything is asked.
func resolveHostTargets(ctx context.Context, f *Factory, addrs []string) ([]hostRef, []agentRef, error) {
	if len(addrs) == 0 {
		return nil, nil, nil
	}
	var hosts []hostRef
	var agents []agentRef
	for _, a := range addrs {
		t, err := findHost(ctx, f, a)
		if err != nil {
			return nil, nil, err
		}
		if caps := core.CapabilitiesOf(t.Provider); caps.SharedHost || caps.HostIsThisMachine {
			return nil, nil, core.WithHint(fmt.Errorf("destroy %s: host %q of provider %q is this machine: %w", a, t.Host.Name, t.ProviderName, core.ErrSharedHost),
				"destroy its agents instead, with: mngr destroy AGENT")
		}
		dup := false
		for _, h := range hosts {
			dup = dup || (h.ProviderName == t.ProviderName && h.Host.ID == t.Host.ID)
		}
		if dup {
			continue
		}
		hosts = append(hosts, t)
		refs, err := hostAgents(ctx, t.ProviderName, t.Provider, t.Host)
		if err != nil {
			// An unreachable host is still destroyed; its agents are
			// those its provider kept records of.
			core.ProgressFrom(ctx).Warn(fmt.Sprintf("agents of host %q not listed: %v", t.Host.Name, err))
		}
		agents = append(agents, refs...)
	}
	return hosts, agents, nil
}

// forgetDestroyed drops the destroyed agents of refs from this machine's
// caches and records and handles their branches (handleCreatedBranches).
func forgetDestroyed(ctx context.Context, f *Factory, refs []agentRef, rep *core.Report, br core.BranchRemovalOptions) []deletedBranch {
	newAgentCache(f).dropNames(rep.Done())
	deleted := handleCreatedBranches(ctx, f, refs, rep, br)
	var gone []core.AgentID
	for _, r := range refs {
		if containsStr(rep.Done(), r.Record.Name) {
			gone = append(gone, r.Record.ID)
		}
	}
	newAgentOrigins(f).drop(gone)
	return deleted
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
