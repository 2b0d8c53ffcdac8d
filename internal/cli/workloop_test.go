package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// gitIn runs git in dir for a test and returns its trimmed output.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// userRepo makes the user's repository (two commits on main) and runs mngr
// from inside it.
func userRepo(t *testing.T, te *testEnv) string {
	t.Helper()
	for _, tool := range []string{"git", "rsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed", tool)
		}
	}
	repo := filepath.Join(te.env["HOME"], "src", "proj")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "init", "-q", "-b", "main")
	gitIn(t, repo, "config", "user.name", "Test User")
	gitIn(t, repo, "config", "user.email", "test@example.com")
	for _, f := range []string{"one", "two"} {
		if err := os.WriteFile(filepath.Join(repo, f+".txt"), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		gitIn(t, repo, "add", f+".txt")
		gitIn(t, repo, "commit", "-q", "-m", f)
	}
	te.cwd = repo
	te.transferNone = false
	return repo
}

// The daily loop on the local provider: create from a repository makes a
// worktree on mngr/<name> with both commits, the agent commits, git pull
// reports it, the user's branch and working tree are untouched, and
// destroy removes the worktree but keeps the branch.
func TestWorkLoopLocal(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	out := te.mustRun("create", "w1", "command", "--no-connect", "--format", "json", "--", "sleep", "60")
	var res createResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("create json %q: %v", out, err)
	}
	if res.Transfer != "git-worktree" || res.Branch != "mngr/w1" || res.BaseBranch != "main" || res.Source != repo {
		t.Errorf("create result %+v", res)
	}
	wd := res.WorkDir
	if got := gitIn(t, wd, "log", "--format=%s", "mngr/w1"); got != "two\none" {
		t.Errorf("worktree log %q", got)
	}
	if err := os.WriteFile(filepath.Join(wd, "agent.txt"), []byte("work\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, wd, "add", "agent.txt")
	gitIn(t, wd, "commit", "-q", "-m", "agent work")
	te.mustRun("git", "pull", "w1")
	if !strings.Contains(te.out.String(), "already here") {
		t.Errorf("pull output %q", te.out.String())
	}
	if got := gitIn(t, repo, "log", "-1", "--format=%s", "mngr/w1"); got != "agent work" {
		t.Errorf("mngr/w1 in the user's repo is at %q", got)
	}
	if gitIn(t, repo, "branch", "--show-current") != "main" || gitIn(t, repo, "status", "--porcelain") != "" {
		t.Error("the user's checkout changed")
	}
	if _, err := os.Stat(filepath.Join(repo, "agent.txt")); !os.IsNotExist(err) {
		t.Error("the agent's file appeared in the user's working tree")
	}
	// list --format json shows where the work came from.
	var listed struct {
		Agents []map[string]any `json:"agents"`
	}
	if err := json.Unmarshal([]byte(te.mustRun("list", "--format", "json")), &listed); err != nil || len(listed.Agents) != 1 {
		t.Fatalf("list: %v %v", err, listed)
	}
	a := listed.Agents[0]
	if a["source"] != repo || a["transfer"] != "git-worktree" || a["branch"] != "mngr/w1" || a["initial_branch"] != "mngr/w1" {
		t.Errorf("list fields source=%v transfer=%v branch=%v", a["source"], a["transfer"], a["branch"])
	}
	// Messages in, screen out, to an agent running cat in the same repository.
	te.mustRun("create", "c1", "command", "--no-connect", "--transfer", "none", "--", "cat")
	te.mustRun("message", "c1", "-m", "hello")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(te.mustRun("capture", "c1"), "hello\nhello") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if out := te.mustRun("capture", "c1"); !strings.Contains(out, "hello\nhello") {
		t.Errorf("capture after message (the typed line and cat's echo):\n%s", out)
	}
	te.mustRun("destroy", "-f", "c1")
	te.mustRun("destroy", "-f", "w1")
	if _, err := os.Stat(wd); !os.IsNotExist(err) {
		t.Errorf("worktree left after destroy: %v", err)
	}
	if got := gitIn(t, repo, "log", "-1", "--format=%s", "mngr/w1"); got != "agent work" {
		t.Errorf("destroy lost the agent's branch: %q", got)
	}
	// destroy --remove-created-branch takes the branch too.
	te.mustRun("create", "w2", "command", "--no-connect", "--", "sleep", "60")
	te.mustRun("destroy", "-f", "--remove-created-branch", "w2")
	if got := gitIn(t, repo, "branch", "--list", "mngr/w2"); got != "" {
		t.Errorf("destroy -b left the branch: %q", got)
	}
}

// Bad input is refused before anything is made, each with its next step.
func TestWorkLoopBadInput(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	if err := os.WriteFile(filepath.Join(repo, "one.txt"), []byte("edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"create", "d1", "command", "--no-connect", "--", "true"}, "--no-ensure-clean"},
		{[]string{"create", "d2", "command", "--no-connect", "--no-ensure-clean", "--branch", ":bad..name", "--", "true"}, "check-ref-format"},
		{[]string{"create", "d3", "command", "--no-connect", "--source", filepath.Join(repo, "missing"), "--", "true"}, "--source DIR"},
		{[]string{"create", "d4", "command", "--no-connect", "--no-ensure-clean", "--transfer", "rsync", "--", "true"}, "leave out --transfer"},
		{[]string{"create", "d5", "command", "--no-connect", "--transfer", "bogus", "--", "true"}, "use --transfer none"},
		{[]string{"create", "d6:" + repo, "command", "--no-connect", "--no-ensure-clean", "--", "true"}, "pick a target outside the project"},
		{[]string{"git", "pull", "nosuch"}, "mngr list"},
		{[]string{"rsync", "nosuch:x", "."}, "mngr list"},
		{[]string{"rsync", "./a", "./b"}, "exactly one of SRC and DST"},
	}
	for _, c := range cases {
		if code := te.run(c.args...); code == 0 || !strings.Contains(te.errOut.String(), c.want) {
			t.Errorf("mngr %v: exit %d, stderr %q; want a refusal mentioning %q", c.args, code, te.errOut.String(), c.want)
		}
	}
	// Nothing was made: no agent, no branch, no worktree.
	if out := te.mustRun("list", "--format", "json"); strings.Contains(out, `"name"`) {
		t.Errorf("an agent was left: %s", out)
	}
	if got := gitIn(t, repo, "branch", "--list", "mngr/*"); got != "" {
		t.Errorf("branches left: %q", got)
	}
	if got := gitIn(t, repo, "worktree", "list", "--porcelain"); strings.Count(got, "worktree ") != 1 {
		t.Errorf("worktrees left:\n%s", got)
	}
	// A path leaving the work dir is refused.
	if err := os.WriteFile(filepath.Join(repo, "one.txt"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	te.mustRun("create", "ok", "command", "--no-connect", "--", "sleep", "60")
	if code := te.run("rsync", "ok:../../etc", "."); code == 0 || !strings.Contains(te.errOut.String(), "outside the work dir") {
		t.Errorf("escaping path: exit %d, %q", code, te.errOut.String())
	}
	// So is a symlink inside the work dir that leads out of it, and an
	// empty local side (rsync would read ":" as a host), before any copy.
	var list struct {
		Agents []struct {
			WorkDir string `json:"work_dir"`
		} `json:"agents"`
	}
	te.mustRun("list", "--format", "json")
	te.jsonOut(&list)
	if err := os.Symlink("/etc", filepath.Join(list.Agents[0].WorkDir, "esc")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"rsync", "ok:esc/", "."}, {"rsync", "ok:esc/passwd", "."}, {"rsync", "./x", "ok:esc/new"}} {
		if code := te.run(args...); code != ExitUsage || !strings.Contains(te.errOut.String(), "leads outside the work dir") {
			t.Errorf("%v: exit %d, %q", args, code, te.errOut.String())
		}
	}
	if code := te.run("rsync", "ok:", ":"); code != ExitUsage || !strings.Contains(te.errOut.String(), "reads as HOST:PATH") {
		t.Errorf("rsync ok: : exit %d, %q", code, te.errOut.String())
	}
	out := filepath.Join(te.env["HOME"], "out")
	te.mustRun("rsync", "ok:one.txt", out)
	if b, err := os.ReadFile(out); err != nil || string(b) != "one\n" {
		t.Errorf("rsync out: %q %v", b, err)
	}
}

// An agent's project (the PROJECT column) comes from its source: the origin
// remote's repository name, else the folder's name; --project overrides it.
func TestCreateSetsProject(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	project := func(name string) string {
		t.Helper()
		var list struct {
			Agents []struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"agents"`
		}
		te.mustRun("list", "--format", "json")
		te.jsonOut(&list)
		for _, a := range list.Agents {
			if a.Name == name {
				return a.Labels["project"]
			}
		}
		t.Fatalf("no agent %s in %s", name, te.out)
		return ""
	}
	te.mustRun("create", "p1", "command", "--no-connect", "--", "sleep", "60")
	if got := project("p1"); got != "proj" {
		t.Errorf("project without a remote = %q, want the folder's name proj", got)
	}
	gitIn(t, repo, "remote", "add", "origin", "git@example.com:someone/the-repo.git")
	te.mustRun("create", "p2", "command", "--no-connect", "--", "sleep", "60")
	if got := project("p2"); got != "the-repo" {
		t.Errorf("project with an origin remote = %q, want the-repo", got)
	}
	te.mustRun("create", "p3", "command", "--no-connect", "--project", "mine", "--", "sleep", "60")
	if got := project("p3"); got != "mine" {
		t.Errorf("--project mine gave %q", got)
	}
	if out := te.mustRun("list"); !strings.Contains(out, "the-repo") {
		t.Errorf("PROJECT column lacks the project:\n%s", out)
	}
}

// git push to an agent in a worktree of this repository fast-forwards the
// agent's branch and checkout; it refuses to drop the agent's commits.
func TestGitPushToWorktreeAgent(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	out := te.mustRun("create", "w1", "command", "--no-connect", "--format", "json", "--", "sleep", "60")
	var res createResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "three.txt"), []byte("three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "add", "three.txt")
	gitIn(t, repo, "commit", "-q", "-m", "three")
	if out := te.mustRun("git", "push", "w1", "--branch", "main"); !strings.Contains(out, "forward by 1 commit(s)") {
		t.Errorf("push output %q", out)
	}
	if got := gitIn(t, res.WorkDir, "log", "-1", "--format=%s"); got != "three" {
		t.Errorf("the agent's checkout is at %q, want three", got)
	}
	if _, err := os.Stat(filepath.Join(res.WorkDir, "three.txt")); err != nil {
		t.Errorf("the agent's work dir lacks the pushed file: %v", err)
	}
	if out := te.mustRun("git", "push", "w1", "--branch", "main"); !strings.Contains(out, "is already at") {
		t.Errorf("second push output %q", out)
	}
	// The agent commits, so main no longer holds its branch: refused.
	if err := os.WriteFile(filepath.Join(res.WorkDir, "agent.txt"), []byte("work\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, res.WorkDir, "add", "agent.txt")
	gitIn(t, res.WorkDir, "commit", "-q", "-m", "agent work")
	if code := te.run("git", "push", "w1", "--branch", "main"); code == 0 || !strings.Contains(te.errOut.String(), "the agent has commits that main lacks") {
		t.Errorf("push over the agent's commits: exit %d, %q", code, te.errOut)
	}
	if got := gitIn(t, res.WorkDir, "log", "-1", "--format=%s"); got != "agent work" {
		t.Errorf("a refused push moved the agent to %q", got)
	}
}

// git pull of an agent without a branch (its work dir copied with rsync)
// is refused before anything runs.
func TestGitPullRefusesAgentWithoutBranch(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.transferNone = false
	if err := os.WriteFile(filepath.Join(te.cwd, "f.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	te.mustRun("create", "r1", "command", "--no-connect", "--", "sleep", "60")
	if code := te.run("git", "pull", "r1"); code != ExitUsage || !strings.Contains(te.errOut.String(), "has no branch of its own") || strings.Contains(te.errOut.String(), "pulling") {
		t.Errorf("exit %d, stderr %q", code, te.errOut)
	}
}

// A missing agent CLI on this machine is found before the project is
// transferred: nothing is made.
func TestCreateChecksAgentCLIFirst(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	code := te.run("create", "c1", "claude", "--no-connect", "--env", "PATH=/nonexistent")
	if code == 0 || !strings.Contains(te.errOut.String(), "needs the claude CLI, which is not installed") {
		t.Fatalf("exit %d, stderr %q", code, te.errOut)
	}
	if strings.Contains(te.errOut.String(), "transfer") {
		t.Errorf("the project was transferred first: %q", te.errOut)
	}
	if got := gitIn(t, repo, "branch", "--list", "mngr/*"); got != "" {
		t.Errorf("branches left: %q", got)
	}
	if got := gitIn(t, repo, "worktree", "list", "--porcelain"); strings.Count(got, "worktree ") != 1 {
		t.Errorf("worktrees left:\n%s", got)
	}
}
