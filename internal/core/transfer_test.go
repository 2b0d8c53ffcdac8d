package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/testenv"
)

func requireGit(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"git", "rsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed", tool)
		}
	}
}

// git runs git in dir and returns its trimmed stdout, failing the test on error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(context.Background(), dir, nil, args...)
	if err != nil {
		t.Fatalf("git %v in %s: %v", args, dir, err)
	}
	return strings.TrimSpace(out)
}

// newRepo makes a repository on branch main with two commits.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "config", "user.name", "Test User")
	git(t, dir, "config", "user.email", "test@example.com")
	for _, f := range []string{"one", "two"} {
		writeFile(t, filepath.Join(dir, f+".txt"), f+"\n")
		git(t, dir, "add", f+".txt")
		git(t, dir, "commit", "-q", "-m", f)
	}
	return dir
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSource(t *testing.T, dir string) Source {
	t.Helper()
	s, err := FindSource(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFindSource(t *testing.T) {
	requireGit(t)
	repo := newRepo(t)
	sub := filepath.Join(repo, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	s := mustSource(t, sub)
	if s.Dir != repo || !s.Git || s.Branch != "main" || len(s.Head) != 40 {
		t.Errorf("FindSource(sub of repo) = %+v, want the repo root on main", s)
	}
	plain := t.TempDir()
	if s := mustSource(t, plain); s.Git || s.Dir != plain {
		t.Errorf("FindSource(plain) = %+v", s)
	}
	_, err := FindSource(context.Background(), filepath.Join(plain, "missing"))
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(HintOf(err), "--source") {
		t.Errorf("missing source: %v (hint %q)", err, HintOf(err))
	}
}

func TestPlanTransfer(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	repo := newRepo(t)
	git(t, repo, "branch", "mngr/taken")
	plain := t.TempDir()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, empty, "init", "-q")
	tests := []struct {
		name       string
		req        TransferRequest
		wantMode   TransferMode
		wantBranch string
		wantErr    error
		wantText   string
	}{
		{name: "git here is a worktree", req: TransferRequest{Source: mustSource(t, repo), HostIsThisMachine: true}, wantMode: TransferGitWorktree, wantBranch: "mngr/a1"},
		{name: "git remote is a mirror", req: TransferRequest{Source: mustSource(t, repo)}, wantMode: TransferGitMirror, wantBranch: "mngr/a1"},
		{name: "plain dir is rsync", req: TransferRequest{Source: mustSource(t, plain)}, wantMode: TransferRsync},
		{name: "branch with star", req: TransferRequest{Source: mustSource(t, repo), Branch: "main:work/*-x"}, wantMode: TransferGitMirror, wantBranch: "work/a1-x"},
		{name: "rsync of a git repo", req: TransferRequest{Source: mustSource(t, repo), Mode: TransferRsync}, wantErr: ErrInvalidInput, wantText: "is a git repository"},
		{name: "worktree across hosts", req: TransferRequest{Source: mustSource(t, repo), Mode: TransferGitWorktree}, wantErr: ErrInvalidInput, wantText: "only when the agent runs on this machine"},
		{name: "mirror of a plain dir", req: TransferRequest{Source: mustSource(t, plain), Mode: TransferGitMirror}, wantErr: ErrInvalidInput, wantText: "needs a git repository"},
		{name: "branch git refuses", req: TransferRequest{Source: mustSource(t, repo), Branch: ":bad..name"}, wantErr: ErrInvalidInput, wantText: "does not accept"},
		{name: "branch that exists", req: TransferRequest{Source: mustSource(t, repo), Branch: ":mngr/taken"}, wantErr: ErrConflict, wantText: "already exists"},
		{name: "unknown base", req: TransferRequest{Source: mustSource(t, repo), Branch: "nosuch"}, wantErr: ErrInvalidInput, wantText: "is not a commit"},
		{name: "a ref is not a branch name", req: TransferRequest{Source: mustSource(t, repo), Branch: "main:refs/heads/foo"}, wantErr: ErrInvalidInput, wantText: "not a branch name"},
		{name: "more than one colon", req: TransferRequest{Source: mustSource(t, repo), Branch: "a:b:c"}, wantErr: ErrInvalidInput, wantText: "is malformed"},
		{name: "new branch is the base", req: TransferRequest{Source: mustSource(t, repo), Branch: "main:main"}, wantErr: ErrInvalidInput, wantText: "is its base branch"},
		{name: "target is the source", req: TransferRequest{Source: mustSource(t, repo), Target: repo, HostIsThisMachine: true}, wantErr: ErrInvalidInput, wantText: "overlap"},
		{name: "target inside the source", req: TransferRequest{Source: mustSource(t, plain), Target: filepath.Join(plain, "copy"), HostIsThisMachine: true}, wantErr: ErrInvalidInput, wantText: "overlap"},
		{name: "relative remote target", req: TransferRequest{Source: mustSource(t, repo), Target: "rel/dir"}, wantErr: ErrInvalidInput, wantText: "must be absolute"},
		{name: "repository without commits", req: TransferRequest{Source: mustSource(t, empty)}, wantErr: ErrInvalidInput, wantText: "no commits"},
		{name: "branch without git", req: TransferRequest{Source: mustSource(t, plain), Branch: "x"}, wantErr: ErrInvalidInput, wantText: "--branch applies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.AgentName = "a1"
			tt.req.EnsureClean = true
			tr, err := PlanTransfer(ctx, tt.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) || HintOf(err) == "" {
					t.Fatalf("err = %v (hint %q), want %v containing %q with a hint", err, HintOf(err), tt.wantErr, tt.wantText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tr.Mode != tt.wantMode || tr.NewBranch != tt.wantBranch {
				t.Errorf("mode %s branch %q, want %s %q", tr.Mode, tr.NewBranch, tt.wantMode, tt.wantBranch)
			}
		})
	}
}

func TestPlanTransferDirtyTree(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	repo := newRepo(t)
	writeFile(t, filepath.Join(repo, "one.txt"), "edited\n")
	req := TransferRequest{Source: mustSource(t, repo), AgentName: "a1", EnsureClean: true, HostIsThisMachine: true}
	_, err := PlanTransfer(ctx, req)
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(HintOf(err), "--no-ensure-clean") || !strings.Contains(HintOf(err), "one.txt") {
		t.Fatalf("dirty tree: %v (hint %q)", err, HintOf(err))
	}
	req.EnsureClean = false
	tr, err := PlanTransfer(ctx, req)
	if err != nil || !tr.CarryChanges {
		t.Fatalf("--no-ensure-clean: %v %+v", err, tr)
	}
}

// A worktree on the agent's branch holds both commits; --no-ensure-clean
// carries edits, deletions and untracked files; Undo removes worktree and
// branch.
func TestTransferWorktree(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	repo := newRepo(t)
	writeFile(t, filepath.Join(repo, "one.txt"), "edited\n")
	writeFile(t, filepath.Join(repo, "new.txt"), "untracked\n")
	if err := os.Remove(filepath.Join(repo, "two.txt")); err != nil {
		t.Fatal(err)
	}
	h := testHost(t)
	tr, err := PlanTransfer(ctx, TransferRequest{Source: mustSource(t, repo), AgentName: "w", HostIsThisMachine: true})
	if err != nil {
		t.Fatal(err)
	}
	wd := tr.WorkDirFor(h, NewAgentID(), "w")
	if !strings.HasPrefix(wd, filepath.Join(h.HostDir, "worktrees", "w-")) {
		t.Errorf("work dir %s not under worktrees/", wd)
	}
	dst, err := tr.Run(ctx, h, nil, wd, TransferIO{})
	if err != nil {
		t.Fatal(err)
	}
	if !dst.Made || git(t, wd, "branch", "--show-current") != "mngr/w" {
		t.Fatalf("dst %+v, branch %q", dst, git(t, wd, "branch", "--show-current"))
	}
	if got := git(t, wd, "log", "--format=%s"); got != "two\none" {
		t.Errorf("log = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(wd, "one.txt")); string(b) != "edited\n" {
		t.Errorf("edit not carried: %q", b)
	}
	if _, err := os.Stat(filepath.Join(wd, "new.txt")); err != nil {
		t.Errorf("untracked file not carried: %v", err)
	}
	if _, err := os.Stat(filepath.Join(wd, "two.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deletion not carried: %v", err)
	}
	if err := tr.Undo(ctx, h, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wd); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("worktree left: %v", err)
	}
	if refCommit(ctx, repo, "refs/heads/mngr/w") != "" {
		t.Error("branch mngr/w left after Undo")
	}
}

// A mirror checks out the agent's branch, keeps the base branch and the
// user's identity; pull brings the agent's commits back without touching
// the checkout; push updates the agent's checkout, and is refused over its
// uncommitted edits.
func TestTransferMirrorPullPush(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	repo := newRepo(t)
	h := testHost(t)
	tr, err := PlanTransfer(ctx, TransferRequest{Source: mustSource(t, repo), AgentName: "m", Mode: TransferGitMirror, HostIsThisMachine: true, EnsureClean: true})
	if err != nil {
		t.Fatal(err)
	}
	wd := tr.WorkDirFor(h, NewAgentID(), "m")
	if _, err := tr.Run(ctx, h, nil, wd, TransferIO{}); err != nil {
		t.Fatal(err)
	}
	if got := git(t, wd, "branch", "--show-current"); got != "mngr/m" {
		t.Errorf("checked out %q", got)
	}
	if git(t, wd, "rev-parse", "main") != git(t, repo, "rev-parse", "main") || git(t, wd, "config", "user.email") != "test@example.com" {
		t.Error("base branch or identity missing in the mirror")
	}
	// The agent commits.
	writeFile(t, filepath.Join(wd, "agent.txt"), "by the agent\n")
	git(t, wd, "add", "agent.txt")
	git(t, wd, "commit", "-q", "-m", "agent work")
	rec := AgentRecord{Name: "m", WorkDir: wd, CreatedBranchName: "mngr/m"}
	headBefore := git(t, repo, "rev-parse", "HEAD")
	res, err := GitPull(ctx, GitSyncRequest{Repo: repo, Agent: AgentRepo{Agent: rec}})
	if err != nil {
		t.Fatal(err)
	}
	// One new commit: the agent's, not the base history main already has.
	if diff := cmp.Diff(GitSyncResult{Agent: "m", Branch: "mngr/m", After: git(t, wd, "rev-parse", "HEAD"), Commits: 1}, res); diff != "" {
		t.Errorf("pull (-want +got)\n%s", diff)
	}
	if git(t, repo, "rev-parse", "HEAD") != headBefore || git(t, repo, "status", "--porcelain") != "" || git(t, repo, "branch", "--show-current") != "main" {
		t.Error("pull touched the user's checkout")
	}
	// The user adds a commit on the agent's branch and pushes it.
	git(t, repo, "switch", "-q", "mngr/m")
	_, err = GitPull(ctx, GitSyncRequest{Repo: repo, Agent: AgentRepo{Agent: rec}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(HintOf(err), "--merge") {
		t.Errorf("pull into the checked-out branch: %v (hint %q)", err, HintOf(err))
	}
	writeFile(t, filepath.Join(repo, "review.txt"), "from the user\n")
	git(t, repo, "add", "review.txt")
	git(t, repo, "commit", "-q", "-m", "review")
	res, err = GitPush(ctx, GitSyncRequest{Repo: repo, Agent: AgentRepo{Agent: rec}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commits != 1 || res.After != git(t, wd, "rev-parse", "HEAD") {
		t.Errorf("push result %+v, agent at %s", res, git(t, wd, "rev-parse", "HEAD"))
	}
	if b, _ := os.ReadFile(filepath.Join(wd, "review.txt")); string(b) != "from the user\n" {
		t.Errorf("agent's checkout did not follow the push: %q", b)
	}
	// The agent edits without committing; a push is refused, nothing lost.
	writeFile(t, filepath.Join(wd, "review.txt"), "agent edit in progress\n")
	writeFile(t, filepath.Join(repo, "review.txt"), "second review\n")
	git(t, repo, "commit", "-q", "-am", "second review")
	_, err = GitPush(ctx, GitSyncRequest{Repo: repo, Agent: AgentRepo{Agent: rec}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "uncommitted") {
		t.Errorf("push over uncommitted edits: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(wd, "review.txt")); string(b) != "agent edit in progress\n" {
		t.Errorf("agent's edit lost: %q", b)
	}
	// --merge merges the agent's branch into the checkout when asked.
	git(t, wd, "checkout", "-q", "--", "review.txt")
	writeFile(t, filepath.Join(wd, "more.txt"), "more\n")
	git(t, wd, "add", "more.txt")
	git(t, wd, "commit", "-q", "-m", "more agent work")
	git(t, repo, "switch", "-q", "main")
	res, err = GitPull(ctx, GitSyncRequest{Repo: repo, Agent: AgentRepo{Agent: rec}, Merge: true})
	if err != nil || !res.Merged {
		t.Fatalf("pull --merge: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(repo, "more.txt")); err != nil {
		t.Errorf("merge did not bring more.txt: %v", err)
	}
}

func TestTransferRsyncExcludes(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	src := t.TempDir()
	for _, f := range []string{"keep.txt", "node_modules/x.js", ".venv/bin/python", "build/out.o", "logs/a.log", "sub/skip.tmp"} {
		writeFile(t, filepath.Join(src, f), f)
	}
	writeFile(t, filepath.Join(src, ".gitignore"), "build/\n")
	writeFile(t, filepath.Join(src, "sub", ".gitignore"), "*.tmp\n")
	h := testHost(t)
	tr, err := PlanTransfer(ctx, TransferRequest{Source: mustSource(t, src), AgentName: "r", HostIsThisMachine: true, Excludes: []string{"logs"}})
	if err != nil {
		t.Fatal(err)
	}
	wd := tr.WorkDirFor(h, NewAgentID(), "r")
	if _, err := tr.Run(ctx, h, nil, wd, TransferIO{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = filepath.WalkDir(wd, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(wd, p)
			got = append(got, rel)
		}
		return nil
	})
	want := []string{".gitignore", "keep.txt", "sub/.gitignore"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copied files (-want +got)\n%s", diff)
	}
	// A second run into the same, now non-empty, target is refused.
	if _, err := tr.Run(ctx, h, nil, wd, TransferIO{}); !errors.Is(err, ErrConflict) {
		t.Errorf("copy into a non-empty target: %v", err)
	}
	if _, err := os.Stat(filepath.Join(wd, "keep.txt")); err != nil {
		t.Errorf("the refused second copy removed the first: %v", err)
	}
}

func TestAgentPath(t *testing.T) {
	rec := AgentRecord{Name: "a", WorkDir: "/mngr/projects/agent-1"}
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "results/out.txt", want: "/mngr/projects/agent-1/results/out.txt"},
		{in: "", want: "/mngr/projects/agent-1"},
		{in: ".", want: "/mngr/projects/agent-1"},
		{in: "a/../b", want: "/mngr/projects/agent-1/b"},
		{in: "/mngr/projects/agent-1/x", want: "/mngr/projects/agent-1/x"},
		{in: "../agent-2/secret", bad: true},
		{in: "..", bad: true},
		{in: "/etc/passwd", bad: true},
		{in: "/mngr/projects/agent-10", bad: true},
	}
	for _, tt := range tests {
		got, err := AgentPath(rec, tt.in)
		if tt.bad {
			if !errors.Is(err, ErrInvalidInput) || HintOf(err) == "" {
				t.Errorf("AgentPath(%q) = %q, %v; want refused with a hint", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("AgentPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSSHEndpointArgs(t *testing.T) {
	ep := SSHEndpoint{HostName: "127.77.0.5", Port: 2222, User: "root", IdentityFile: "/k/id", KnownHostsFile: "/k/known hosts"}
	if got := ep.GitURL("/mngr/projects/a"); got != "ssh://root@127.77.0.5:2222/mngr/projects/a" {
		t.Errorf("GitURL = %q", got)
	}
	for _, s := range []string{ep.GitSSHCommand(), ep.RsyncShell()} {
		for _, want := range []string{"StrictHostKeyChecking=yes", "'UserKnownHostsFile=/k/known hosts'", "BatchMode=yes", "IdentitiesOnly=yes"} {
			if !strings.Contains(s, want) {
				t.Errorf("%q lacks %q", s, want)
			}
		}
		if strings.Contains(s, "StrictHostKeyChecking=no") || strings.Contains(s, "accept-new") {
			t.Errorf("%q trusts on first use", s)
		}
	}
	if !strings.Contains(ep.RsyncShell(), "-p 2222") || strings.Contains(ep.GitSSHCommand(), "-p") {
		t.Error("port belongs in rsync's -e and in git's URL")
	}
	v6 := SSHEndpoint{HostName: "fd00::5", Port: 22, User: "root"}
	if got := v6.RsyncPath("/w"); got != "root@[fd00::5]:/w" {
		t.Errorf("RsyncPath v6 = %q", got)
	}
}

// A refused or failed transfer removes only what it made: a target that
// was there (with the user's files, or an existing worktree with
// uncommitted work) and a branch another create made all stay.
func TestTransferRefusalKeepsWhatWasThere(t *testing.T) {
	requireGit(t)
	ctx := context.Background()
	plan := func(t *testing.T, repo string, mode TransferMode, name string) *Transfer {
		t.Helper()
		tr, err := PlanTransfer(ctx, TransferRequest{Source: mustSource(t, repo), Mode: mode, AgentName: name, HostIsThisMachine: true})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	userDir := func(t *testing.T) string {
		t.Helper()
		d := filepath.Join(t.TempDir(), "mine")
		writeFile(t, filepath.Join(d, "precious.txt"), "keep me\n")
		return d
	}
	wantFile := func(t *testing.T, p, content string) {
		t.Helper()
		if b, err := os.ReadFile(p); err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", p, b, err, content)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"rsync into a non-empty dir", func(t *testing.T) {
			src := t.TempDir()
			writeFile(t, filepath.Join(src, "a.txt"), "a\n")
			d := userDir(t)
			_, err := plan(t, src, "", "r").Run(ctx, testHost(t), nil, d, TransferIO{})
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "not empty") {
				t.Fatalf("err = %v, want a conflict", err)
			}
			wantFile(t, filepath.Join(d, "precious.txt"), "keep me\n")
		}},
		{"mirror into a non-empty dir", func(t *testing.T) {
			d := userDir(t)
			_, err := plan(t, newRepo(t), TransferGitMirror, "m").Run(ctx, testHost(t), nil, d, TransferIO{})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want a conflict", err)
			}
			wantFile(t, filepath.Join(d, "precious.txt"), "keep me\n")
		}},
		{"worktree into a non-empty dir", func(t *testing.T) {
			repo := newRepo(t)
			d := userDir(t)
			_, err := plan(t, repo, TransferGitWorktree, "w").Run(ctx, testHost(t), nil, d, TransferIO{})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want a conflict", err)
			}
			wantFile(t, filepath.Join(d, "precious.txt"), "keep me\n")
			if refCommit(ctx, repo, "refs/heads/mngr/w") != "" {
				t.Error("a refused worktree transfer left its branch")
			}
		}},
		{"worktree over an existing worktree with uncommitted work", func(t *testing.T) {
			repo := newRepo(t)
			d := filepath.Join(t.TempDir(), "wt")
			git(t, repo, "worktree", "add", "-q", "-b", "users-branch", d)
			writeFile(t, filepath.Join(d, "one.txt"), "uncommitted edit\n")
			_, err := plan(t, repo, TransferGitWorktree, "w").Run(ctx, testHost(t), nil, d, TransferIO{})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want a conflict", err)
			}
			wantFile(t, filepath.Join(d, "one.txt"), "uncommitted edit\n")
			if got := git(t, d, "branch", "--show-current"); got != "users-branch" {
				t.Errorf("the worktree is on %q now", got)
			}
			if !strings.Contains(git(t, repo, "worktree", "list"), d) {
				t.Error("the user's worktree was unregistered")
			}
		}},
		{"worktree whose branch another create just made", func(t *testing.T) {
			repo := newRepo(t)
			tr := plan(t, repo, TransferGitWorktree, "race")
			// The winner made mngr/race (and committed) after this plan.
			git(t, repo, "branch", "mngr/race", "HEAD~1")
			winner := git(t, repo, "rev-parse", "mngr/race")
			h := testHost(t)
			wd := tr.WorkDirFor(h, NewAgentID(), "race")
			_, err := tr.Run(ctx, h, nil, wd, TransferIO{})
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("err = %v, want already exists", err)
			}
			if got := refCommit(ctx, repo, "refs/heads/mngr/race"); got != winner {
				t.Errorf("the winner's branch is at %q, want %s", got, winner)
			}
			if _, err := os.Stat(wd); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the loser left its work dir: %v", err)
			}
		}},
		{"failed mirror into an empty dir empties it and keeps it", func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "empty")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			tr := plan(t, newRepo(t), TransferGitMirror, "m")
			tr.BaseCommit = strings.Repeat("e", 40) // the push fails
			if _, err := tr.Run(ctx, testHost(t), nil, d, TransferIO{}); err == nil {
				t.Fatal("a push of a missing commit succeeded")
			}
			entries, err := os.ReadDir(d)
			if err != nil || len(entries) != 0 {
				t.Errorf("target after the failure: %v, %v; want it there and empty", entries, err)
			}
		}},
		{"failed mirror into a new dir removes it", func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "new")
			tr := plan(t, newRepo(t), TransferGitMirror, "m")
			tr.BaseCommit = strings.Repeat("e", 40)
			if _, err := tr.Run(ctx, testHost(t), nil, d, TransferIO{}); err == nil {
				t.Fatal("a push of a missing commit succeeded")
			}
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the new target remains: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
