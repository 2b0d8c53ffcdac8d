package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// TransferMode is how create brings the user's project into an agent's work
// dir.
type TransferMode string

// The transfer modes, as --transfer spells them.
const (
	// TransferNone runs the agent where it is told, copying nothing: in the
	// source directory on this machine, else in a new empty directory.
	TransferNone TransferMode = "none"
	// TransferRsync copies a directory that is not a git repository.
	TransferRsync TransferMode = "rsync"
	// TransferGitMirror pushes the base commit to a new repository on the
	// host and checks out the agent's branch there.
	TransferGitMirror TransferMode = "git-mirror"
	// TransferGitWorktree adds a git worktree of the user's repository on
	// the agent's branch; the host must be this machine.
	TransferGitWorktree TransferMode = "git-worktree"
)

// ParseTransferMode checks a --transfer value ("" is the default, chosen
// later from the source and the host).
func ParseTransferMode(s string) (TransferMode, error) {
	switch m := TransferMode(s); m {
	case "", TransferNone, TransferRsync, TransferGitMirror, TransferGitWorktree:
		return m, nil
	}
	return "", WithHint(fmt.Errorf("unknown transfer mode %q: %w", s, ErrInvalidInput),
		"use --transfer none, rsync, git-mirror or git-worktree")
}

// DefaultRsyncExcludes are the caches an rsync transfer never copies (on top
// of what the project's .gitignore files exclude and of --exclude).
var DefaultRsyncExcludes = []string{
	"__pycache__", ".venv", "node_modules", ".mypy_cache", ".ruff_cache",
	".pytest_cache", ".test_output", "htmlcov", ".test_durations",
}

// TransferRequest is what the user asked create to transfer.
type TransferRequest struct {
	Mode   TransferMode
	Source Source
	// Branch is --branch, "[BASE][:NEW]"; NEW may hold "*" for the agent
	// name. Empty means the current branch and mngr/<agent>.
	Branch    string
	AgentName string
	// Target is the work dir asked for with :PATH ("" picks one).
	Target string
	// EnsureClean refuses a source with uncommitted changes; without it
	// they are carried over, uncommitted, into the work dir.
	EnsureClean bool
	// Excludes are extra rsync exclude patterns.
	Excludes []string
	// HostIsThisMachine says the agent's host is this machine.
	HostIsThisMachine bool
}

// Transfer is a checked transfer, ready to run once the host exists.
type Transfer struct {
	Mode   TransferMode
	Source Source
	// BaseBranch is the branch the agent's branch starts from ("" for a
	// detached base); BaseCommit its commit.
	BaseBranch, BaseCommit string
	// NewBranch is the agent's branch (git modes only).
	NewBranch string
	// Target is the work dir asked for ("" picks one on the host).
	Target string
	// CarryChanges copies the source's uncommitted changes (tracked edits,
	// deletions and untracked files) over the checkout.
	CarryChanges bool
	Excludes     []string
	thisMachine  bool
}

// PlanTransfer checks a transfer before anything is made: the mode fits the
// source and the host, the branch names are ones git takes, the tree is
// clean when it must be, and the target is not the source.
func PlanTransfer(ctx context.Context, req TransferRequest) (*Transfer, error) {
	t := &Transfer{Mode: req.Mode, Source: req.Source, Excludes: req.Excludes, thisMachine: req.HostIsThisMachine}
	src := req.Source
	if t.Mode == "" {
		switch {
		case !src.Git:
			t.Mode = TransferRsync
		case req.HostIsThisMachine:
			t.Mode = TransferGitWorktree
		default:
			t.Mode = TransferGitMirror
		}
	}
	switch {
	case t.Mode == TransferRsync && src.Git:
		return nil, WithHint(fmt.Errorf("--transfer rsync copies plain directories, and %s is a git repository: %w", src.Dir, ErrInvalidInput),
			"leave out --transfer (git-worktree on this machine, git-mirror on a remote host), or pass --transfer none")
	case (t.Mode == TransferGitMirror || t.Mode == TransferGitWorktree) && !src.Git:
		return nil, WithHint(fmt.Errorf("--transfer %s needs a git repository, and %s is not in one: %w", t.Mode, src.Dir, ErrInvalidInput),
			"run create inside your repository (or pass --source DIR), or use --transfer rsync for a plain directory")
	case t.Mode == TransferGitWorktree && !req.HostIsThisMachine:
		return nil, WithHint(fmt.Errorf("--transfer git-worktree works only when the agent runs on this machine: %w", ErrInvalidInput),
			"use --transfer git-mirror for a remote host (the default there)")
	}
	if req.Branch != "" && t.Mode != TransferGitMirror && t.Mode != TransferGitWorktree {
		return nil, WithHint(fmt.Errorf("--branch applies to git transfers, and this one is %s: %w", t.Mode, ErrInvalidInput),
			"leave out --branch, or transfer a git repository")
	}
	if err := t.checkTarget(req.Target); err != nil {
		return nil, err
	}
	if t.Mode == TransferNone {
		return t, nil
	}
	if t.Mode == TransferRsync {
		return t, nil
	}
	if err := t.planBranches(ctx, req); err != nil {
		return nil, err
	}
	dirty, err := src.Dirty(ctx)
	if err != nil {
		return nil, err
	}
	if dirty != "" {
		if req.EnsureClean {
			n := strings.Count(dirty, "\n") + 1
			return nil, WithHint(fmt.Errorf("%s has uncommitted changes (%d file(s)): %w", src.Dir, n, ErrInvalidInput),
				"commit them (git commit -am '…') or stash them (git stash -u) first, or pass --no-ensure-clean to carry them into the agent's work dir uncommitted; the changes:\n%s", indent(dirty, 10))
		}
		t.CarryChanges = true
	}
	return t, nil
}

// indent keeps at most max lines of s, each indented.
func indent(s string, maxLines int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = append(lines[:maxLines], fmt.Sprintf("… and %d more", len(lines)-maxLines))
	}
	return "  " + strings.Join(lines, "\n  ")
}

// checkTarget validates :PATH (or --work-dir) against the source.
func (t *Transfer) checkTarget(target string) error {
	if target == "" {
		return nil
	}
	if t.thisMachine {
		abs, err := filepath.Abs(target)
		if err != nil {
			return fmt.Errorf("resolve target %q: %w", target, err)
		}
		target = abs
		if t.Mode != TransferNone && (target == t.Source.Dir || within(target, t.Source.Dir) || within(t.Source.Dir, target)) {
			return WithHint(fmt.Errorf("the target %s and the source %s overlap: %w", target, t.Source.Dir, ErrInvalidInput),
				"pick a target outside the project (NAME:PATH), or use --transfer none to run in place")
		}
	} else if !path.IsAbs(target) {
		return WithHint(fmt.Errorf("target path %q on a remote host must be absolute: %w", target, ErrInvalidInput),
			"write NAME@HOST.PROVIDER:/absolute/path")
	}
	t.Target = target
	return nil
}

// within reports whether p is strictly inside dir.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

// planBranches resolves --branch [BASE][:NEW] against the repository.
func (t *Transfer) planBranches(ctx context.Context, req TransferRequest) error {
	if strings.Count(req.Branch, ":") > 1 {
		return WithHint(fmt.Errorf("--branch %q is malformed: it has more than one ':': %w", req.Branch, ErrInvalidInput),
			"use --branch BASE:NEW, for example --branch main:feature/x")
	}
	base, newBranch, _ := strings.Cut(req.Branch, ":")
	if strings.HasPrefix(newBranch, "refs/") {
		return WithHint(fmt.Errorf("--branch %q: the agent's branch %q is a ref, not a branch name: %w", req.Branch, newBranch, ErrInvalidInput),
			"give the branch name alone: --branch %s:%s", base, strings.TrimPrefix(strings.TrimPrefix(newBranch, "refs/"), "heads/"))
	}
	if newBranch == "" {
		newBranch = "mngr/*"
	}
	newBranch = strings.ReplaceAll(newBranch, "*", req.AgentName)
	dir := req.Source.Dir
	if base == "" {
		base = req.Source.Branch
	}
	if req.Source.Head == "" {
		return WithHint(fmt.Errorf("repository %s has no commits yet: %w", dir, ErrInvalidInput),
			"make a first commit (git commit), or use --transfer none")
	}
	rev := base
	if rev == "" {
		rev = "HEAD"
	}
	commit, err := runGit(ctx, dir, nil, "rev-parse", "-q", "--verify", rev+"^{commit}")
	if err != nil {
		return WithHint(fmt.Errorf("base %q is not a commit in %s: %w", rev, dir, ErrInvalidInput),
			"name an existing branch or commit: --branch BASE[:NEW] (git branch --list shows them)")
	}
	t.BaseCommit = strings.TrimSpace(commit)
	if base != "" {
		if _, err := runGit(ctx, dir, nil, "show-ref", "-q", "--verify", "refs/heads/"+base); err == nil {
			t.BaseBranch = base
		}
	}
	if _, err := runGit(ctx, dir, nil, "check-ref-format", "--branch", newBranch); err != nil {
		return WithHint(fmt.Errorf("git does not accept %q as a branch name: %w", newBranch, ErrInvalidInput),
			"pick another with --branch [BASE]:NEW (see git check-ref-format)")
	}
	if newBranch == t.BaseBranch {
		return WithHint(fmt.Errorf("the agent's branch %q is its base branch: %w", newBranch, ErrInvalidInput),
			"give the agent a branch of its own: --branch %s:mngr/%s", t.BaseBranch, req.AgentName)
	}
	if _, err := runGit(ctx, dir, nil, "show-ref", "-q", "--verify", "refs/heads/"+newBranch); err == nil {
		return WithHint(fmt.Errorf("branch %q already exists in %s: %w", newBranch, dir, ErrConflict),
			"pick another name (--branch :NEW, or another agent name), or delete the old branch: git branch -D %s", newBranch)
	}
	t.NewBranch = newBranch
	return nil
}

// Destination is where a transfer put the project.
type Destination struct {
	// WorkDir is the agent's work dir on the host.
	WorkDir string
	// Made says mngr made WorkDir (so destroy removes it).
	Made bool
	// made is what this run made, all Undo takes away.
	made transferMade
}

// transferMade records what one Run made: a refused or failed transfer
// removes only these, never a directory, worktree or branch that was there
// before it.
type transferMade struct {
	// dir: the work dir did not exist and Run made it.
	dir bool
	// filled: the work dir existed, empty, and Run put files in it.
	filled bool
	// worktree: Run added the git worktree at the work dir.
	worktree bool
	// branch: Run created the agent's branch in the source repository.
	branch bool
}

// TransferIO is where a running transfer reports.
type TransferIO struct {
	// Progress receives git's and rsync's progress (a terminal), or nil.
	Progress io.Writer
}

// WorkDirFor is the work dir the transfer uses on h for agent id.
func (t *Transfer) WorkDirFor(h *Host, id AgentID, agentName string) string {
	if t.Target != "" {
		return t.Target
	}
	switch t.Mode {
	case TransferNone:
		if t.thisMachine {
			return t.Source.Dir
		}
		return generatedWorkDir(h, id)
	case TransferGitWorktree:
		var b [4]byte
		_, _ = rand.Read(b[:])
		return path.Join(h.HostDir, "worktrees", agentName+"-"+hex.EncodeToString(b[:]))
	case TransferRsync:
		if t.thisMachine {
			return path.Join(h.HostDir, "copies", string(id))
		}
	}
	return path.Join(h.HostDir, "projects", string(id))
}

// Run transfers the project into workDir on h. remote is how git and rsync
// reach the host (nil when the host is this machine). On failure what this
// run made is removed again, and nothing else: a target that was there
// before, a worktree or a branch it did not create stay as they were.
func (t *Transfer) Run(ctx context.Context, h *Host, remote *SSHEndpoint, workDir string, tio TransferIO) (Destination, error) {
	if !t.thisMachine && remote == nil && t.Mode != TransferNone {
		return Destination{}, WithHint(fmt.Errorf("host %q cannot receive files (its provider gives no ssh endpoint): %w", h.Name, ErrNotSupported),
			"create the agent with --transfer none")
	}
	dst := Destination{WorkDir: workDir, Made: t.Mode != TransferNone}
	var err error
	switch t.Mode {
	case TransferNone:
		return dst, nil
	case TransferGitWorktree:
		err = t.runWorktree(ctx, workDir, &dst.made)
	case TransferGitMirror:
		err = t.runMirror(ctx, h, remote, workDir, tio, &dst.made)
	case TransferRsync:
		err = t.runRsync(ctx, h, remote, workDir, tio, &dst.made)
	}
	if err != nil {
		// An interrupt cancels ctx: the undo gets its own bounded context.
		uctx, cancel := UndoContext(ctx, UndoTimeout)
		defer cancel()
		if uerr := t.Undo(uctx, h, dst); uerr != nil {
			return Destination{}, WithHint(fmt.Errorf("%w (and removing the partial work dir %s failed: %v)", err, workDir, uerr),
				"remove it with: %s", t.undoCommand(workDir))
		}
		return Destination{}, err
	}
	return dst, nil
}

// undoCommand is the shell command a user runs to remove what Run made in
// workDir (on the agent's host), when mngr could not.
func (t *Transfer) undoCommand(workDir string) string {
	if t.Mode == TransferGitWorktree {
		return fmt.Sprintf("git -C %s worktree remove --force %s; git -C %s branch -D %s",
			ShellQuote(t.Source.Dir), ShellQuote(workDir), ShellQuote(t.Source.Dir), ShellQuote(t.NewBranch))
	}
	return "rm -rf -- " + ShellQuote(workDir)
}

// Undo removes what the Run that gave dst made (the work dir or its
// contents; a worktree and the branch it created), and nothing else. It is
// for a create that failed: the agent's branch has no work of its own yet,
// and a branch that moved since is kept.
func (t *Transfer) Undo(ctx context.Context, h *Host, dst Destination) error {
	m, workDir := dst.made, dst.WorkDir
	var errs []error
	if m.worktree {
		if _, err := runGit(ctx, t.Source.Dir, nil, "worktree", "remove", "--force", workDir); err != nil {
			errs = append(errs, err)
		}
	}
	if m.worktree || m.branch {
		// A worktree add stopped half-way (an interrupt) may leave git's
		// record of a worktree whose directory is gone; it holds the branch.
		_, _ = runGit(ctx, t.Source.Dir, nil, "worktree", "prune")
	}
	if m.branch {
		switch tip := refCommit(ctx, t.Source.Dir, "refs/heads/"+t.NewBranch); tip {
		case "":
		case t.BaseCommit:
			if _, err := runGit(ctx, t.Source.Dir, nil, "branch", "-D", t.NewBranch); err != nil {
				errs = append(errs, err)
			}
		default:
			errs = append(errs, fmt.Errorf("branch %s moved to %s since this create made it, so it is kept: %w", t.NewBranch, tip, ErrConflict))
		}
	}
	switch {
	case m.worktree:
		if m.filled {
			// git took the user's empty directory with the worktree.
			if err := os.MkdirAll(workDir, 0o700); err != nil {
				errs = append(errs, err)
			}
		}
	case m.dir:
		if _, err := h.mustRun(ctx, "remove work dir", "rm -rf -- "+ShellQuote(workDir)); err != nil {
			errs = append(errs, err)
		}
	case m.filled:
		// The directory was there, empty: what is in it now came from this run.
		if _, err := h.mustRun(ctx, "empty work dir", "find "+ShellQuote(workDir)+" -mindepth 1 -delete"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t *Transfer) runWorktree(ctx context.Context, workDir string, made *transferMade) error {
	existed, err := checkLocalTarget(workDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(workDir), 0o700); err != nil {
		return fmt.Errorf("create worktrees dir: %w", err)
	}
	// The branch is made on its own first: git refuses one that exists
	// (another create of the same name may have made it a moment ago), and
	// then it is not this run's to remove.
	if _, err := runGit(ctx, t.Source.Dir, nil, "branch", "--no-track", t.NewBranch, t.BaseCommit); err != nil {
		if refCommit(ctx, t.Source.Dir, "refs/heads/"+t.NewBranch) != "" {
			return WithHint(fmt.Errorf("branch %q already exists in %s: %w", t.NewBranch, t.Source.Dir, ErrConflict),
				"pick another name (--branch :NEW, or another agent name)")
		}
		return fmt.Errorf("create branch %s: %w", t.NewBranch, err)
	}
	made.branch = true
	if _, err := runGit(ctx, t.Source.Dir, nil, "worktree", "add", "-q", workDir, t.NewBranch); err != nil {
		if !existed {
			// git removes what it made on failure; a leftover is this run's.
			_ = os.RemoveAll(workDir)
		}
		return fmt.Errorf("add worktree %s on branch %s: %w", workDir, t.NewBranch, err)
	}
	made.worktree, made.filled = true, existed
	if t.CarryChanges {
		return t.carryChanges(ctx, nil, nil, workDir)
	}
	return nil
}

// checkLocalTarget refuses a work dir on this machine that exists and is
// not an empty directory, and says whether it exists.
func checkLocalTarget(workDir string) (bool, error) {
	entries, err := os.ReadDir(workDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		if _, serr := os.Stat(workDir); serr == nil {
			return true, WithHint(fmt.Errorf("target %s exists and is not an empty directory: %w", workDir, ErrConflict), "pick an empty or new target path (NAME:PATH)")
		}
		return false, fmt.Errorf("read target %s: %w", workDir, err)
	case len(entries) > 0:
		return true, WithHint(fmt.Errorf("target %s exists and is not empty: %w", workDir, ErrConflict), "pick an empty or new target path (NAME:PATH)")
	}
	return true, nil
}

// prepareTarget makes the work dir on h, refusing one that exists and is
// not empty, and a host without tool; then runs the commands in then. made
// says what it made: the directory, or (when it was there, empty) its
// contents.
func prepareTarget(ctx context.Context, h *Host, workDir, tool, toolHint string, then []string, made *transferMade) error {
	d := ShellQuote(workDir)
	script := append([]string{
		fmt.Sprintf(`if [ -e %s ] && { [ ! -d %s ] || [ -n "$(ls -A %s 2>/dev/null)" ]; }; then exit 17; fi`, d, d, d),
		fmt.Sprintf("command -v %s >/dev/null 2>&1 || exit 4", tool),
		fmt.Sprintf("if [ -d %s ]; then echo %s; else echo %s; fi", d, targetExisted, targetMade),
		"set -e",
		"mkdir -p " + d,
	}, then...)
	res, err := h.run(ctx, "prepare work dir", strings.Join(script, "\n"))
	if err != nil {
		return err
	}
	switch first, _, _ := strings.Cut(res.Stdout, "\n"); first {
	case targetMade:
		made.dir = true
	case targetExisted:
		made.filled = true
	}
	switch res.ExitCode {
	case 0:
		return nil
	case 4:
		return WithHint(fmt.Errorf("%s is not installed on host %q: %w", tool, h.Name, ErrUnavailable), "%s", toolHint)
	case 17:
		return WithHint(fmt.Errorf("target %s on host %q exists and is not empty: %w", workDir, h.Name, ErrConflict), "pick an empty or new target path (NAME:PATH)")
	}
	return fmt.Errorf("prepare work dir %s on host %q failed (exit %d): %s", workDir, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr))
}

// What prepareTarget found, on the first line of its output.
const (
	targetMade    = "mngr-target-made"
	targetExisted = "mngr-target-existed"
)

// placeholderBranch is the unborn branch HEAD points at in a new mirror
// until the agent's branch is checked out, so the pushes into refs/heads
// never touch a checked-out branch.
const placeholderBranch = "mngr-transfer-in-progress"

func (t *Transfer) runMirror(ctx context.Context, h *Host, remote *SSHEndpoint, workDir string, tio TransferIO, made *transferMade) error {
	var name, email string
	if v, err := runGit(ctx, t.Source.Dir, nil, "config", "user.name"); err == nil {
		name = strings.TrimSpace(v)
	}
	if v, err := runGit(ctx, t.Source.Dir, nil, "config", "user.email"); err == nil {
		email = strings.TrimSpace(v)
	}
	d := ShellQuote(workDir)
	script := []string{
		"git init -q --initial-branch=" + placeholderBranch + " " + d,
		// A later `mngr git push` updates the agent's checked-out branch
		// and its files, and is refused while the agent has uncommitted edits.
		"git -C " + d + " config receive.denyCurrentBranch updateInstead",
	}
	if name != "" {
		script = append(script, "git -C "+d+" config user.name "+ShellQuote(name))
	}
	if email != "" {
		script = append(script, "git -C "+d+" config user.email "+ShellQuote(email))
	}
	if err := prepareTarget(ctx, h, workDir, "git", "use an agent image with git, or --transfer rsync for a plain directory", script, made); err != nil {
		return err
	}
	url, env := gitRemote(remote, workDir)
	refspecs := []string{t.BaseCommit + ":refs/heads/" + t.NewBranch}
	if t.BaseBranch != "" {
		refspecs = append(refspecs, t.BaseCommit+":refs/heads/"+t.BaseBranch)
	}
	args := append([]string{"push", "--no-verify", progressFlag(tio), url}, refspecs...)
	if _, err := runTool(ctx, "git", toolRun{dir: t.Source.Dir, env: env, progress: tio.Progress}, args...); err != nil {
		return fmt.Errorf("push %s to host %q: %w", t.NewBranch, h.Name, err)
	}
	if _, err := h.mustRun(ctx, "check out "+t.NewBranch, "git -C "+d+" checkout -q "+ShellQuote(t.NewBranch)); err != nil {
		return err
	}
	if t.CarryChanges {
		return t.carryChanges(ctx, h, remote, workDir)
	}
	return nil
}

func progressFlag(tio TransferIO) string {
	if tio.Progress != nil {
		return "--progress"
	}
	return "--quiet"
}

// carryChanges copies the source's uncommitted state over the fresh
// checkout: modified and untracked (not ignored) files are copied with
// rsync, files deleted in the source are deleted. h is nil when the work
// dir is on this machine.
func (t *Transfer) carryChanges(ctx context.Context, h *Host, remote *SSHEndpoint, workDir string) error {
	changed, err := runGit(ctx, t.Source.Dir, nil, "ls-files", "-z", "--modified", "--others", "--exclude-standard")
	if err != nil {
		return fmt.Errorf("list uncommitted changes: %w", err)
	}
	deleted, err := runGit(ctx, t.Source.Dir, nil, "ls-files", "-z", "--deleted")
	if err != nil {
		return fmt.Errorf("list deleted files: %w", err)
	}
	gone := map[string]bool{}
	var dels []string
	for _, f := range strings.Split(deleted, "\x00") {
		if f != "" {
			gone[f] = true
			dels = append(dels, f)
		}
	}
	var files []string
	for _, f := range strings.Split(changed, "\x00") {
		if f != "" && !gone[f] {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		args := append([]string{"-a", "--from0", "--files-from=-"}, rsyncTransport(remote, false)...)
		args = append(args, t.Source.Dir+"/", rsyncPath(remote, workDir+"/"))
		in := strings.NewReader(strings.Join(files, "\x00"))
		if _, err := runTool(ctx, "rsync", toolRun{stdin: in}, args...); err != nil {
			return fmt.Errorf("copy uncommitted changes: %w", err)
		}
	}
	if len(dels) == 0 {
		return nil
	}
	if h == nil {
		for _, f := range dels {
			if err := os.Remove(filepath.Join(workDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("carry deletion of %s: %w", f, err)
			}
		}
		return nil
	}
	q := make([]string, len(dels))
	for i, f := range dels {
		q[i] = ShellQuote(path.Join(workDir, f))
	}
	_, err = h.mustRun(ctx, "carry deletions", "rm -f -- "+strings.Join(q, " "))
	return err
}

// rsyncArgs are the options every project copy uses: archive mode, the
// cache excludes, the project's own .gitignore files, and the user's
// excludes.
func rsyncArgs(excludes []string, remote *SSHEndpoint, tio TransferIO) []string {
	args := []string{"-a", "--partial-dir=.rsync-partial", "--filter=:- .gitignore"}
	for _, e := range DefaultRsyncExcludes {
		args = append(args, "--exclude="+e)
	}
	for _, e := range excludes {
		args = append(args, "--exclude="+e)
	}
	return append(args, rsyncTransport(remote, tio.Progress != nil)...)
}

func (t *Transfer) runRsync(ctx context.Context, h *Host, remote *SSHEndpoint, workDir string, tio TransferIO, made *transferMade) error {
	if err := prepareTarget(ctx, h, workDir, "rsync", "use an agent image with rsync (apt-get install rsync)", nil, made); err != nil {
		return err
	}
	args := append(rsyncArgs(t.Excludes, remote, tio), t.Source.Dir+"/", rsyncPath(remote, workDir+"/"))
	if _, err := runTool(ctx, "rsync", toolRun{progress: tio.Progress}, args...); err != nil {
		return fmt.Errorf("copy %s to host %q: %w", t.Source.Dir, h.Name, err)
	}
	return nil
}
