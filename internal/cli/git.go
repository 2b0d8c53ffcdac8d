package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type gitOptions struct {
	f *Factory

	Agent   string
	GitArgs []string
	Merge   bool
	Branch  string
	Start   bool
	push    bool
}

func newCmdGit(f *Factory, runF func(*gitOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "git",
		Short: "Bring an agent's commits here, or send yours to it",
		Long: `Move commits between your repository and an agent's work dir with git
itself: over the agent's SSH (pinned host key) for agents on remote hosts,
directly for agents on this machine. Run it inside your repository.`,
		Example: `  mngr git pull fixer          # fetch the agent commits into your branch mngr/fixer
  mngr git push fixer          # your commits on mngr/fixer, to the agent`,
	}
	cmd.AddCommand(newCmdGitSync(f, runF, false), newCmdGitSync(f, runF, true))
	return cmd
}

func newCmdGitSync(f *Factory, runF func(*gitOptions) error, push bool) *cobra.Command {
	opts := &gitOptions{f: f, push: push}
	cmd := &cobra.Command{
		Use:   "pull AGENT [-- GIT_ARGS...]",
		Short: "Fetch the agent's branch into your repository",
		Long: `Fetch the agent's branch (mngr/<name>, or the branch it was created with)
into your repository as a branch of the same name. Your checked-out branch
and working tree are not touched; --merge merges the agent's branch into
your checked-out branch instead. It works while the agent runs. GIT_ARGS go
to git fetch (or git pull with --merge).`,
		Example: `  mngr git pull fixer                  # updates your branch mngr/fixer
  git log mngr/fixer                   # see what the agent did
  mngr git pull fixer --merge          # merge it into your checked-out branch`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeAgentNames(f, 0),
	}
	if push {
		cmd.Use = "push AGENT [-- GIT_ARGS...]"
		cmd.Short = "Push your commits to the agent's branch"
		cmd.Long = `Push a local branch (default: your copy of the agent's branch) to the
agent's branch. The agent's checkout follows the push; a push that would
overwrite the agent's uncommitted edits or drop its commits is refused.
GIT_ARGS go to git push (for example --force).

An agent on this machine works in a worktree of your repository: its branch
is already here (and checked out in the agent's worktree, so you cannot
switch to it). There, push fast-forwards the agent's branch and checkout to
--branch LOCAL (with -- --force: moves it there, keeping the agent's
uncommitted edits).`
		cmd.Example = `  # Send the new commits of your main to the agent's branch (fast-forward
  # only); works for every agent, a local worktree one too
  mngr git push fixer --branch main

  # An agent on a remote host: after mngr git pull fixer, commit on your
  # copy of its branch (git switch mngr/fixer; git commit), then push it
  mngr git push fixer`
		cmd.Flags().StringVar(&opts.Branch, "branch", "", "local branch or commit to push (default: the agent's branch)")
	} else {
		cmd.Flags().BoolVar(&opts.Merge, "merge", false, "merge the agent's branch into your checked-out branch")
	}
	cmd.Flags().BoolVar(&opts.Start, "start", false, "start the agent's host first when it is stopped")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		pos := args
		if n := cmd.ArgsLenAtDash(); n >= 0 {
			pos, opts.GitArgs = args[:n], args[n:]
		}
		if len(pos) != 1 {
			return usageErrorf("git %s takes one agent (got %d); put git's own arguments after --", map[bool]string{false: "pull", true: "push"}[push], len(pos))
		}
		opts.Agent = pos[0]
		if runF != nil {
			return runF(opts)
		}
		return runGitSync(cmd.Context(), opts)
	}
	return cmd
}

func runGitSync(ctx context.Context, opts *gitOptions) error {
	f := opts.f
	format := f.Format()
	verb := "pull"
	sync := core.GitPull
	if opts.push {
		verb, sync = "push", core.GitPush
	}
	progress := toolProgress(f)
	var res core.GitSyncResult
	_, err := reachAgentRepo(ctx, f, opts.Agent, opts.Start, core.AgentBranch, func(rec core.AgentRecord, ar core.AgentRepo) error {
		// Which branch goes where is this machine's record, not the host's.
		rec, err := trustedForLocalAction(ctx, f, rec, ar.Remote == nil)
		if err != nil {
			return err
		}
		ar.Agent = rec
		if err := core.AgentBranch(rec); err != nil {
			return err
		}
		repo, err := localRepo(ctx, f, rec)
		if err != nil {
			return err
		}
		req := core.GitSyncRequest{Repo: repo, Agent: ar, Merge: opts.Merge, LocalRef: opts.Branch, GitArgs: opts.GitArgs, Progress: progress}
		done := core.ProgressFrom(ctx).Step(fmt.Sprintf("%sing branch %s of agent %s", verb, rec.CreatedBranchName, rec.Name))
		res, err = sync(ctx, req)
		done(err)
		return err
	})
	if err != nil {
		return err
	}
	return Emit(f.IO, format, func(w io.Writer) error {
		_, err := io.WriteString(w, describeGitSync(verb, res)+"\n")
		return err
	}, res, []any{gitSyncEvent{Event: verb, GitSyncResult: res}})
}

// gitSyncEvent is git pull/push's jsonl event.
type gitSyncEvent struct {
	Event string `json:"event"`
	core.GitSyncResult
}

func describeGitSync(verb string, r core.GitSyncResult) string {
	short := func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	}
	switch {
	case r.Shared && verb == "push" && r.Before == r.After:
		return fmt.Sprintf("Branch %s of agent %s is already at %s.", r.Branch, r.Agent, short(r.After))
	case r.Shared && verb == "push":
		return fmt.Sprintf("Moved branch %s of agent %s (and its worktree) forward by %d commit(s): %s..%s.", r.Branch, r.Agent, r.Commits, short(r.Before), short(r.After))
	case r.Shared && !r.Merged:
		return fmt.Sprintf("Agent %s works in a worktree of this repository: branch %s is already here (at %s).", r.Agent, r.Branch, short(r.After))
	case r.Merged:
		return fmt.Sprintf("Merged branch %s of agent %s into your checkout: %d new commit(s), now at %s.", r.Branch, r.Agent, r.Commits, short(r.After))
	case r.Before == r.After:
		return fmt.Sprintf("Branch %s is up to date with agent %s (%s).", r.Branch, r.Agent, short(r.After))
	case verb == "push":
		return fmt.Sprintf("Pushed %d commit(s) to branch %s of agent %s: %s..%s.", r.Commits, r.Branch, r.Agent, short(r.Before), short(r.After))
	case r.Before == "":
		return fmt.Sprintf("Fetched branch %s of agent %s: %d commit(s), at %s.", r.Branch, r.Agent, r.Commits, short(r.After))
	}
	return fmt.Sprintf("Updated branch %s from agent %s: %d new commit(s), %s..%s.", r.Branch, r.Agent, r.Commits, short(r.Before), short(r.After))
}

// localRepo is the user's repository: the git root of the current
// directory, else the project the agent was created from.
func localRepo(ctx context.Context, f *Factory, rec core.AgentRecord) (string, error) {
	wd, err := f.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the current directory: %w", err)
	}
	if root, err := core.GitRoot(ctx, wd); err == nil {
		return root, nil
	}
	if rec.SourcePath != "" {
		if root, err := core.GitRoot(ctx, rec.SourcePath); err == nil {
			return root, nil
		}
	}
	return "", core.WithHint(fmt.Errorf("%s is not in a git repository: %w", wd, core.ErrInvalidInput),
		"run this inside your repository (cd into it first)")
}

// agentRepo says how git and rsync reach the agent's work dir: directly on
// this machine, else over its host's pinned ssh endpoint. A stopped host is
// started only when start is set.
func agentRepo(ctx context.Context, r *agentRef, start bool) (core.AgentRepo, error) {
	ar := core.AgentRepo{Agent: r.Record}
	// A running remote host needs no check here: git or rsync connects
	// at once and reports a host that does not answer.
	remoteRunning := r.Host.State == core.HostRunning && !core.CapabilitiesOf(r.Provider).HostIsThisMachine
	if r.Online == nil && !remoteRunning {
		h, err := r.Reach(ctx, start)
		if err != nil {
			return ar, core.WithHint(err, "start it with `mngr start %s`, or pass --start", r.Record.Name)
		}
		r.Online = h
	}
	if core.CapabilitiesOf(r.Provider).HostIsThisMachine {
		return ar, nil
	}
	se, ok := r.Provider.(core.SSHEndpointer)
	if !ok {
		return ar, fmt.Errorf("provider %q gives no ssh endpoint for its hosts: %w", r.ProviderName, core.ErrNotSupported)
	}
	ep, err := se.SSHEndpoint(ctx, r.Host.ID)
	if err != nil {
		return ar, fmt.Errorf("find the ssh endpoint of host %q: %w", r.Host.Name, err)
	}
	ar.Remote = &ep
	return ar, nil
}
