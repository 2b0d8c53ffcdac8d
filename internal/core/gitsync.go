package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// AgentRepo is how this machine reaches an agent's work dir.
type AgentRepo struct {
	Agent AgentRecord
	// Remote is the agent's ssh endpoint; nil when its host is this machine.
	Remote *SSHEndpoint
}

// git is the URL and environment git uses for the agent's work dir.
func (a AgentRepo) git() (url string, env []string) { return gitRemote(a.Remote, a.Agent.WorkDir) }

// branch is the agent's branch, or an error saying it has none.
func (a AgentRepo) branch() (string, error) {
	if a.Agent.CreatedBranchName == "" {
		return "", WithHint(fmt.Errorf("agent %q has no branch of its own (its work dir was made by %s): %w",
			a.Agent.Name, transferName(a.Agent.Transfer), ErrInvalidInput),
			"copy files with `mngr rsync %s:PATH .` instead; agents get a branch when created from a git repository", a.Agent.Name)
	}
	return a.Agent.CreatedBranchName, nil
}

// AgentBranch refuses an agent without a branch of its own (made by rsync,
// or run in place) for git pull and push, before anything runs.
func AgentBranch(rec AgentRecord) error {
	_, err := AgentRepo{Agent: rec}.branch()
	return err
}

func transferName(m TransferMode) string {
	if m == "" {
		return "no transfer"
	}
	return "--transfer " + string(m)
}

// GitSyncRequest is one `mngr git pull` or `mngr git push`.
type GitSyncRequest struct {
	// Repo is the local repository (a work tree's root).
	Repo  string
	Agent AgentRepo
	// Merge (pull only) merges the agent's branch into the checked-out
	// branch instead of only updating the local copy of the agent's branch.
	Merge bool
	// LocalRef (push only) is the local branch or commit to push to the
	// agent's branch; "" pushes the local copy of the agent's branch.
	LocalRef string
	// GitArgs are extra arguments for git fetch, pull or push.
	GitArgs []string
	// Progress receives git's progress, or nil.
	Progress io.Writer
}

// GitSyncResult says what a pull or push did.
type GitSyncResult struct {
	Agent  string `json:"agent"`
	Branch string `json:"branch"`
	// Before and After are the branch's commit before and after ("" when
	// it did not exist).
	Before string `json:"before"`
	After  string `json:"after"`
	// Commits is how many commits came in or went out.
	Commits int `json:"commits"`
	// Shared says the agent works in a worktree of this repository, so
	// its branch needed no copying.
	Shared bool `json:"shared"`
	// Merged says the agent's branch was merged into the checked-out branch.
	Merged bool `json:"merged,omitempty"`
}

// sharesRepo reports whether the agent's work dir is a worktree of repo.
func sharesRepo(ctx context.Context, repo string, a AgentRepo) bool {
	if a.Remote != nil {
		return false
	}
	mine, err1 := runGit(ctx, repo, nil, "rev-parse", "--path-format=absolute", "--git-common-dir")
	theirs, err2 := runGit(ctx, a.Agent.WorkDir, nil, "rev-parse", "--path-format=absolute", "--git-common-dir")
	return err1 == nil && err2 == nil && filepath.Clean(strings.TrimSpace(mine)) == filepath.Clean(strings.TrimSpace(theirs))
}

// refCommit is the commit ref points at in repo, "" when it does not exist.
func refCommit(ctx context.Context, repo, ref string) string {
	out, err := runGit(ctx, repo, nil, "rev-parse", "-q", "--verify", ref+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func countCommits(ctx context.Context, repo, before, after string) int {
	if after == "" || before == after {
		return 0
	}
	rng := after
	if before != "" {
		rng = before + ".." + after
	}
	out, err := runGit(ctx, repo, nil, "rev-list", "--count", rng)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

// GitPull brings the agent's branch into the local repository as a branch
// of the same name. The checked-out branch and the working tree are left
// alone unless req.Merge asks to merge the agent's branch into them.
func GitPull(ctx context.Context, req GitSyncRequest) (GitSyncResult, error) {
	branch, err := req.Agent.branch()
	if err != nil {
		return GitSyncResult{}, err
	}
	res := GitSyncResult{Agent: req.Agent.Agent.Name, Branch: branch}
	ref := "refs/heads/" + branch
	res.Before = refCommit(ctx, req.Repo, ref)
	current := ""
	if out, err := runGit(ctx, req.Repo, nil, "symbolic-ref", "-q", "--short", "HEAD"); err == nil {
		current = strings.TrimSpace(out)
	}
	if sharesRepo(ctx, req.Repo, req.Agent) {
		res.Shared, res.After = true, res.Before
		if !req.Merge {
			return res, nil
		}
		return mergeInto(ctx, req, res, branch)
	}
	if req.Merge {
		args := append([]string{"pull", "--no-rebase", "--no-edit", progressOf(req.Progress)}, req.GitArgs...)
		url, env := req.Agent.git()
		args = append(args, url, ref)
		before := refCommit(ctx, req.Repo, "HEAD")
		if _, err := runTool(ctx, "git", toolRun{dir: req.Repo, env: env, progress: req.Progress}, args...); err != nil {
			return res, WithHint(fmt.Errorf("merge branch %s of agent %q into %s: %w", branch, res.Agent, current, err),
				"resolve the conflicts and commit (git status shows them), or git merge --abort")
		}
		res.Merged = true
		res.After = refCommit(ctx, req.Repo, "HEAD")
		res.Commits = countCommits(ctx, req.Repo, before, res.After)
		return res, nil
	}
	if current == branch {
		return res, WithHint(fmt.Errorf("branch %s is checked out here, and pull leaves your checkout alone: %w", branch, ErrConflict),
			"switch to another branch first (git switch -), or pass --merge to merge the agent's work into your checkout")
	}
	args := append([]string{"fetch", "--no-write-fetch-head", progressOf(req.Progress)}, req.GitArgs...)
	url, env := req.Agent.git()
	args = append(args, url, ref+":"+ref)
	if _, err := runTool(ctx, "git", toolRun{dir: req.Repo, env: env, progress: req.Progress}, args...); err != nil {
		var ge *GitError
		if errors.As(err, &ge) && (strings.Contains(ge.Stderr, "non-fast-forward") || strings.Contains(ge.Stderr, "rejected")) {
			return res, WithHint(fmt.Errorf("fetch branch %s of agent %q: your %s has commits the agent's lacks: %w", branch, res.Agent, branch, ErrConflict),
				"merge instead: switch to %s and run `mngr git pull %s --merge`, or rename yours first (git branch -m %s %s-mine)", branch, res.Agent, branch, branch)
		}
		return res, fmt.Errorf("fetch branch %s of agent %q: %w", branch, res.Agent, err)
	}
	res.After = refCommit(ctx, req.Repo, ref)
	if res.Before == "" {
		// A branch new here: its commits that no other branch of yours
		// has, not the base history it shares with them.
		res.Commits = countNewCommits(ctx, req.Repo, ref, res.After)
	} else {
		res.Commits = countCommits(ctx, req.Repo, res.Before, res.After)
	}
	return res, nil
}

// countNewCommits counts the commits of after that no local branch other
// than ref holds.
func countNewCommits(ctx context.Context, repo, ref, after string) int {
	out, err := runGit(ctx, repo, nil, "rev-list", "--count", after, "--not", "--exclude="+strings.TrimPrefix(ref, "refs/heads/"), "--branches")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

func mergeInto(ctx context.Context, req GitSyncRequest, res GitSyncResult, branch string) (GitSyncResult, error) {
	before := refCommit(ctx, req.Repo, "HEAD")
	args := append([]string{"merge", "--no-edit"}, req.GitArgs...)
	args = append(args, branch)
	if _, err := runTool(ctx, "git", toolRun{dir: req.Repo, progress: req.Progress}, args...); err != nil {
		return res, WithHint(fmt.Errorf("merge branch %s of agent %q: %w", branch, res.Agent, err),
			"resolve the conflicts and commit (git status shows them), or git merge --abort")
	}
	res.Merged = true
	res.After = refCommit(ctx, req.Repo, "HEAD")
	res.Commits = countCommits(ctx, req.Repo, before, res.After)
	return res, nil
}

func progressOf(w io.Writer) string {
	if w != nil {
		return "--progress"
	}
	return "--quiet"
}

// GitPush sends local commits to the agent's branch. The agent's checkout
// follows (its repository takes pushes with updateInstead); a push that
// would overwrite the agent's uncommitted edits, or drop its commits, is
// refused.
func GitPush(ctx context.Context, req GitSyncRequest) (GitSyncResult, error) {
	branch, err := req.Agent.branch()
	if err != nil {
		return GitSyncResult{}, err
	}
	res := GitSyncResult{Agent: req.Agent.Agent.Name, Branch: branch}
	local := req.LocalRef
	if local == "" {
		local = branch
	}
	commit := refCommit(ctx, req.Repo, local)
	if commit == "" {
		return res, WithHint(fmt.Errorf("%q is not a branch or commit in %s: %w", local, req.Repo, ErrNotFound),
			"fetch the agent's branch first (mngr git pull %s), or name what to push with --branch LOCAL", res.Agent)
	}
	if sharesRepo(ctx, req.Repo, req.Agent) {
		return pushToWorktree(ctx, req, res, branch, commit)
	}
	res.After = commit
	// No --quiet: it would silence the ref report --porcelain prints.
	args := []string{"push", "--no-verify", "--porcelain"}
	if req.Progress != nil {
		args = append(args, "--progress")
	}
	args = append(args, req.GitArgs...)
	url, env := req.Agent.git()
	args = append(args, url, commit+":refs/heads/"+branch)
	out, err := runTool(ctx, "git", toolRun{dir: req.Repo, env: env, progress: req.Progress}, args...)
	if err != nil {
		said := out
		var ge *GitError
		if errors.As(err, &ge) {
			said += ge.Stderr
		}
		switch {
		case strings.Contains(said, "non-fast-forward") || strings.Contains(said, "fetch first"):
			return res, WithHint(fmt.Errorf("push to branch %s of agent %q: the agent has commits you do not: %w", branch, res.Agent, ErrConflict),
				"pull them first (mngr git pull %s), merge, then push again; or overwrite them with: mngr git push %s -- --force", res.Agent, res.Agent)
		case strings.Contains(said, "unstaged changes") || strings.Contains(said, "would be overwritten") || strings.Contains(said, "not clean"):
			return res, WithHint(fmt.Errorf("push to branch %s of agent %q: the agent has uncommitted changes in its work dir: %w", branch, res.Agent, ErrConflict),
				"ask the agent to commit them (mngr message %s -m '…'), then push again", res.Agent)
		}
		return res, fmt.Errorf("push to branch %s of agent %q: %w", branch, res.Agent, err)
	}
	res.Before = pushedFrom(out)
	if strings.Contains(out, "[up to date]") {
		res.Before = res.After
	}
	res.Commits = countCommits(ctx, req.Repo, res.Before, res.After)
	return res, nil
}

// pushToWorktree is GitPush for an agent in a worktree of req.Repo: its
// branch is already in the repository, so the push fast-forwards that
// branch, and the agent's checkout with it, to commit (with --force in
// GitArgs: moves it there, keeping the agent's uncommitted edits). git
// refuses what would overwrite those edits.
func pushToWorktree(ctx context.Context, req GitSyncRequest, res GitSyncResult, branch, commit string) (GitSyncResult, error) {
	res.Shared = true
	res.Before, res.After = refCommit(ctx, req.Repo, "refs/heads/"+branch), commit
	if res.Before == commit {
		return res, nil
	}
	args := []string{"merge", "--ff-only", "--quiet", commit}
	for _, a := range req.GitArgs {
		if a == "--force" || a == "-f" {
			args = []string{"reset", "--keep", "--quiet", commit}
		}
	}
	if args[0] == "merge" && res.Before != "" {
		if _, err := runGit(ctx, req.Repo, nil, "merge-base", "--is-ancestor", res.Before, commit); err != nil {
			return res, WithHint(fmt.Errorf("push to branch %s of agent %q: the agent has commits that %s lacks: %w", branch, res.Agent, shortRef(req.LocalRef, branch), ErrConflict),
				"merge them first (git merge %s), then push again; or move the agent's branch anyway with: mngr git push %s -- --force", branch, res.Agent)
		}
	}
	if _, err := runGit(ctx, req.Agent.Agent.WorkDir, nil, args...); err != nil {
		var ge *GitError
		said := err.Error()
		if errors.As(err, &ge) {
			said = ge.Stderr
		}
		switch {
		case strings.Contains(said, "overwritten") || strings.Contains(said, "not uptodate") || strings.Contains(said, "local changes"):
			return res, WithHint(fmt.Errorf("push to branch %s of agent %q: the agent has uncommitted changes in its work dir that the push would overwrite: %w", branch, res.Agent, ErrConflict),
				"ask the agent to commit them (mngr message %s -m '…'), then push again", res.Agent)
		case strings.Contains(said, "fast-forward"):
			return res, WithHint(fmt.Errorf("push to branch %s of agent %q: the agent has commits that %s lacks: %w", branch, res.Agent, shortRef(req.LocalRef, branch), ErrConflict),
				"merge them first (git merge %s), then push again; or move the agent's branch anyway with: mngr git push %s -- --force", branch, res.Agent)
		}
		return res, fmt.Errorf("push to branch %s of agent %q in its worktree %s: %w", branch, res.Agent, req.Agent.Agent.WorkDir, err)
	}
	res.Commits = countCommits(ctx, req.Repo, res.Before, res.After)
	return res, nil
}

func shortRef(local, branch string) string {
	if local == "" {
		return branch
	}
	return local
}

// pushedFrom reads the old commit of the one ref `git push --porcelain`
// updated ("<flag>\t<from>:<to>\t<old>..<new>"); "" for a new ref or when
// nothing changed.
func pushedFrom(porcelain string) string {
	for _, line := range strings.Split(porcelain, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || !strings.Contains(f[1], ":refs/heads/") {
			continue
		}
		if old, _, ok := strings.Cut(f[2], ".."); ok {
			return strings.TrimSuffix(old, ".")
		}
	}
	return ""
}

// AgentPath resolves PATH of AGENT:PATH against the agent's work dir; a
// path that leaves the work dir is refused.
func AgentPath(rec AgentRecord, p string) (string, error) {
	var full string
	if path.IsAbs(p) {
		full = path.Clean(p)
	} else {
		full = path.Join(rec.WorkDir, p)
	}
	wd := path.Clean(rec.WorkDir)
	if full != wd && !strings.HasPrefix(full, wd+"/") {
		return "", WithHint(fmt.Errorf("path %q is outside the work dir %s of agent %q: %w", p, wd, rec.Name, ErrInvalidInput),
			"give a path inside the agent's work dir, relative to it (for example %s:results/)", rec.Name)
	}
	return full, nil
}

// RsyncRequest is one `mngr rsync`: a copy between this machine and an
// agent's work dir.
type RsyncRequest struct {
	Agent AgentRepo
	// FromAgent says the agent's side is the source.
	FromAgent bool
	// AgentPath is the absolute path in the agent's work dir; LocalPath the
	// path here. A trailing slash keeps rsync's meaning (the contents).
	AgentPath, LocalPath string
	// Args are extra rsync arguments.
	Args     []string
	Progress io.Writer
}

// Rsync copies with the system rsync over the agent's pinned ssh endpoint
// (or locally when the agent runs on this machine). The agent's path must
// stay inside its work dir once symlinks are resolved: on this machine that
// is checked before rsync runs; on a remote host the remote rsync is started
// by a guard that checks it there first.
func Rsync(ctx context.Context, req RsyncRequest) (string, error) {
	rec := req.Agent.Agent
	if req.LocalPath == "" || (!strings.HasPrefix(req.LocalPath, "/") && strings.Contains(strings.SplitN(req.LocalPath, "/", 2)[0], ":")) {
		// rsync would read "" as nothing and "x:y" or ":" as a remote host.
		return "", WithHint(fmt.Errorf("local path %q is empty or reads as HOST:PATH: %w", req.LocalPath, ErrInvalidInput),
			"give a local path; write ./%s for a local path holding a colon", req.LocalPath)
	}
	args := append([]string{"-a", "--partial-dir=.rsync-partial"}, rsyncTransport(req.Agent.Remote, req.Progress != nil)...)
	if req.Agent.Remote == nil {
		if err := checkInsideWorkDir(rec, req.AgentPath); err != nil {
			return "", err
		}
	} else {
		args = append(args, "--rsync-path="+rsyncGuard(rec.WorkDir, req.AgentPath))
	}
	args = append(args, req.Args...)
	agentSide := rsyncPath(req.Agent.Remote, req.AgentPath)
	from, to := req.LocalPath, "agent "+rec.Name+":"+req.AgentPath
	if req.FromAgent {
		args = append(args, agentSide, req.LocalPath)
		from, to = to, from
	} else {
		args = append(args, req.LocalPath, agentSide)
	}
	out, err := runTool(ctx, "rsync", toolRun{progress: req.Progress}, args...)
	var ge *GitError
	switch {
	case err == nil:
		return out, nil
	case errors.As(err, &ge) && strings.Contains(ge.Stderr, outsideMarker):
		return out, outsideWorkDir(rec, req.AgentPath)
	case errors.As(err, &ge):
		return out, WithHint(fmt.Errorf("rsync could not copy %s to %s: %s", from, to, lastLine(ge.Stderr)),
			"check both paths, the free space and the permissions there; for rsync's own messages add: -- -v")
	default:
		return out, fmt.Errorf("copy with agent %q: %w", rec.Name, err)
	}
}

// outsideMarker starts the line the remote guard prints when a path leads
// out of the work dir.
const outsideMarker = "mngr-outside-work-dir"

// rsyncGuard is the --rsync-path that starts the remote rsync only when
// full, with its symlinks resolved there, is inside workDir.
func rsyncGuard(workDir, full string) string {
	return fmt.Sprintf(`w=$(realpath -- %s) && p=$(realpath -m -- %s) && case "$p/" in "$w"/*) ;; *) echo %s >&2; exit 1;; esac && rsync`,
		ShellQuote(workDir), ShellQuote(full), outsideMarker)
}

// checkInsideWorkDir refuses full (an absolute path on this machine) when,
// with its symlinks resolved, it is not inside the agent's work dir.
func checkInsideWorkDir(rec AgentRecord, full string) error {
	wd, err := filepath.EvalSymlinks(rec.WorkDir)
	if err != nil {
		return fmt.Errorf("resolve the work dir %s of agent %q: %w", rec.WorkDir, rec.Name, err)
	}
	// The part of full that exists decides where it leads; the rest is new.
	existing, rest := filepath.Clean(full), ""
	for {
		if r, err := filepath.EvalSymlinks(existing); err == nil {
			existing = r
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	p := filepath.Join(existing, rest)
	if p != wd && !strings.HasPrefix(p, wd+string(filepath.Separator)) {
		return outsideWorkDir(rec, full)
	}
	return nil
}

func outsideWorkDir(rec AgentRecord, p string) error {
	return WithHint(fmt.Errorf("path %s leads outside the work dir %s of agent %q (through a symlink): %w", p, rec.WorkDir, rec.Name, ErrInvalidInput),
		"give a path inside the agent's work dir that is not a symlink out of it")
}

// BranchRemovalOptions say how far destroy may go with an agent's branch.
type BranchRemovalOptions struct {
	// Requested is --remove-created-branch: delete the branch even when it
	// is not empty, provided every commit on it is reachable from
	// another ref.
	Requested bool
	// Force is --force-remove-branch: delete it even when commits only it
	// reaches would be lost (their SHA is still printed).
	Force bool
}

// BranchRemoval is what destroy did with an agent's branch.
type BranchRemoval struct {
	Agent, Branch, Repo string
	// SHA is the branch's last commit: `git branch NAME SHA` brings it back.
	SHA     string
	Deleted bool
	// Own are the commits (short SHA and subject, newest first) no other
	// ref reaches; a branch with any stays unless forced.
	Own []string
}

// RemoveCreatedBranch handles the agent's branch in the repository on this
// machine it was created from, once the agent is destroyed. A branch that
// holds no commits of its own (every commit is reachable from another ref,
// so a second create of the same name does not trip over it) is deleted.
// One with commits of its own stays; asked to remove it
// (opts.Requested), that is refused with ErrConflict listing the commits,
// unless opts.Force. An agent without a branch, or a repository that no
// longer has it, is nothing to do (zero result).
func RemoveCreatedBranch(ctx context.Context, rec AgentRecord, opts BranchRemovalOptions) (BranchRemoval, error) {
	r := BranchRemoval{Agent: rec.Name, Branch: rec.CreatedBranchName, Repo: rec.SourcePath}
	if rec.CreatedBranchName == "" || rec.SourcePath == "" {
		return BranchRemoval{}, nil
	}
	ref := "refs/heads/" + rec.CreatedBranchName
	if r.SHA = refCommit(ctx, rec.SourcePath, ref); r.SHA == "" {
		return BranchRemoval{}, nil
	}
	own, err := commitsOnlyOn(ctx, rec.SourcePath, ref, r.SHA)
	if err != nil {
		return r, fmt.Errorf("check branch %s of agent %q in %s: %w", r.Branch, rec.Name, r.Repo, err)
	}
	r.Own = own
	if len(own) > 0 && !opts.Force {
		if !opts.Requested {
			return r, nil
		}
		return r, WithHint(fmt.Errorf("branch %s of agent %q in %s holds %d commit(s) no other ref reaches, so it was kept: %w", r.Branch, rec.Name, r.Repo, len(own), ErrConflict),
			"merge or push them first (mngr git pull %s --merge), or delete them anyway with --force-remove-branch; the commits:\n%s", rec.Name, indent(strings.Join(own, "\n"), 10))
	}
	// git branch -D (not update-ref) refuses a branch checked out anywhere.
	if _, err := runGit(ctx, rec.SourcePath, nil, "branch", "-D", r.Branch); err != nil {
		return r, fmt.Errorf("delete branch %s of agent %q in %s: %w", r.Branch, rec.Name, r.Repo, err)
	}
	r.Deleted = true
	return r, nil
}

// commitsOnlyOn lists the commits reachable from tip (the tip of ref) and
// from no other ref in repo, newest first, as "SHORT-SHA SUBJECT".
func commitsOnlyOn(ctx context.Context, repo, ref, tip string) ([]string, error) {
	refs, err := runGit(ctx, repo, nil, "for-each-ref", "--format=%(refname)")
	if err != nil {
		return nil, err
	}
	in := []string{tip}
	for _, r := range strings.Split(refs, "\n") {
		if r != "" && r != ref {
			in = append(in, "^"+r)
		}
	}
	out, err := runTool(ctx, "git", toolRun{dir: repo, stdin: strings.NewReader(strings.Join(in, "\n") + "\n")},
		"log", "--format=%h %s", "--stdin")
	if err != nil {
		return nil, err
	}
	var own []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			own = append(own, l)
		}
	}
	return own, nil
}
