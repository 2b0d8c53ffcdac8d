package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDestroyNeedsForceForRunning(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	waitAgentState(t, te, "demo", "WAITING")
	if code := te.run("destroy", "demo"); code != ExitUsage || !strings.Contains(te.errOut.String(), "-f") {
		t.Errorf("without -f: code %d stderr %q", code, te.errOut)
	}
	if agentState(t, te, "demo") == "" {
		t.Fatal("agent vanished without -f")
	}
	out := te.mustRun("rm", "-f", "demo")
	if out != "Destroyed agent: demo\n" {
		t.Errorf("stdout = %q", out)
	}
	if s := agentState(t, te, "demo"); s != "" {
		t.Errorf("agent still listed as %s", s)
	}
}

func TestDestroyCloudRemovesEmptyHostAndRunsGC(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "c1", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.mustRun("destroy", "-f", "c1")
	if len(te.cloud.destroyed) != 1 || len(te.cloud.hosts) != 0 {
		t.Errorf("destroyed=%v hosts=%d", te.cloud.destroyed, len(te.cloud.hosts))
	}
	if len(te.cloud.gcCalls) != 1 || te.cloud.gcCalls[0] {
		t.Errorf("gc calls = %v, want one real run", te.cloud.gcCalls)
	}
	// An agent on an offline host goes with its whole host; --no-gc skips gc.
	te.mustRun("create", "c2", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.mustRun("stop", "c2")
	te.mustRun("destroy", "c2", "--no-gc", "--format", "json")
	if !strings.Contains(te.out.String(), `"destroyed_agents":["c2"]`) || len(te.cloud.hosts) != 0 || len(te.cloud.gcCalls) != 1 {
		t.Errorf("out=%q hosts=%d gc=%v", te.out, len(te.cloud.hosts), te.cloud.gcCalls)
	}
}

// destroyBranches runs destroy with args in --format json and returns the
// exit code and the deleted branches it reports.
func destroyBranches(t *testing.T, te *testEnv, args ...string) (ExitCode, []deletedBranch) {
	t.Helper()
	code := te.run(append([]string{"destroy", "-f", "--format", "json"}, args...)...)
	var res destroyResult
	if err := jsonUnmarshal(te.out.String(), &res); err != nil {
		t.Fatalf("destroy json %q: %v (stderr %s)", te.out, err, te.errOut)
	}
	return code, res.DeletedBranches
}

// An agent's branch is thrown away only when no commit is lost: an empty
// branch goes (so the same create works again), one with commits of its
// own stays, --remove-created-branch refuses it listing the commits, and
// --force-remove-branch deletes it; a deleted branch's last SHA is printed.
func TestDestroyBranchRules(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	branch := func(name string) string {
		out, _ := exec.Command("git", "-C", repo, "rev-parse", "-q", "--verify", "refs/heads/"+name).Output()
		return strings.TrimSpace(string(out))
	}
	commitIn := func(name, file string) string {
		var res createResult
		if err := jsonUnmarshal(te.mustRun("create", name, "command", "--no-connect", "--format", "json", "--", "sleep", "60"), &res); err != nil {
			t.Fatal(err)
		}
		if file != "" {
			if err := os.WriteFile(filepath.Join(res.WorkDir, file), []byte(file), 0o644); err != nil {
				t.Fatal(err)
			}
			gitIn(t, res.WorkDir, "add", file)
			gitIn(t, res.WorkDir, "commit", "-q", "-m", "agent adds "+file)
		}
		return branch("mngr/" + name)
	}

	// No commits of its own: deleted by a plain destroy, and the same
	// create works a second time.
	sha := commitIn("q", "")
	code, del := destroyBranches(t, te, "q")
	if code != 0 || len(del) != 1 || del[0].SHA != sha || branch("mngr/q") != "" {
		t.Fatalf("empty branch: code %d deleted %+v, branch left %q", code, del, branch("mngr/q"))
	}
	commitIn("q", "")
	destroyBranches(t, te, "q")

	// Commits of its own: a plain destroy keeps the branch.
	sha = commitIn("k", "k.txt")
	if code, del := destroyBranches(t, te, "k"); code != 0 || len(del) != 0 || branch("mngr/k") != sha {
		t.Fatalf("branch with commits: code %d deleted %+v, branch at %q want %s", code, del, branch("mngr/k"), sha)
	}

	// --remove-created-branch refuses it and names the commit.
	sha = commitIn("r", "r.txt")
	code, del = destroyBranches(t, te, "--remove-created-branch", "r")
	if code == 0 || len(del) != 0 || branch("mngr/r") != sha || !strings.Contains(te.out.String(), "agent adds r.txt") || !strings.Contains(te.out.String(), "--force-remove-branch") {
		t.Fatalf("refusal: code %d deleted %+v branch %q out %s", code, del, branch("mngr/r"), te.out)
	}
	if agentState(t, te, "r") != "" {
		t.Error("the agent was kept along with its branch")
	}

	// Once another ref reaches the commits, --remove-created-branch deletes it.
	gitIn(t, repo, "merge", "-q", "--ff-only", "mngr/r")
	sha = commitIn("m", "m.txt")
	gitIn(t, repo, "tag", "keep-m", "mngr/m")
	if code, del := destroyBranches(t, te, "--remove-created-branch", "m"); code != 0 || len(del) != 1 || del[0].SHA != sha || branch("mngr/m") != "" {
		t.Fatalf("reachable branch: code %d deleted %+v", code, del)
	}

	// --force-remove-branch deletes commits nothing else reaches, and says where they were.
	sha = commitIn("f", "f.txt")
	if code, del := destroyBranches(t, te, "--force-remove-branch", "f"); code != 0 || len(del) != 1 || del[0].SHA != sha || branch("mngr/f") != "" {
		t.Fatalf("forced: code %d deleted %+v", code, del)
	}
	gitIn(t, repo, "branch", "restored", sha)
	if got := gitIn(t, repo, "log", "-1", "--format=%s", "restored"); got != "agent adds f.txt" {
		t.Errorf("the printed SHA restores %q", got)
	}
}

// Two agents of one name on one host (left by an older mngr): the error
// offers their ids, and an id addresses one of them.
func TestDuplicateNamesOfferIDs(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "dup", "command", "--no-connect", "--", "sleep", "60")
	agents := filepath.Join(te.env["MNGR_HOST_DIR"], "agents")
	entries, err := os.ReadDir(agents)
	if err != nil || len(entries) != 1 {
		t.Fatalf("agent dirs %v %v", entries, err)
	}
	first := entries[0].Name()
	second := "agent-000000000000000000000000000000aa"
	data, err := os.ReadFile(filepath.Join(agents, first, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(agents, second), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(agents, second, "data.json"), []byte(strings.ReplaceAll(string(data), first, second)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := te.run("stop", "dup"); code == 0 || !strings.Contains(te.errOut.String(), "mngr destroy "+first) && !strings.Contains(te.errOut.String(), "mngr destroy "+second) {
		t.Fatalf("stop dup: code %d stderr %s", code, te.errOut)
	}
	if strings.Contains(te.errOut.String(), "name the host") {
		t.Errorf("the hint offers the host form, which matches both: %s", te.errOut)
	}
	te.mustRun("destroy", "-f", second)
	te.mustRun("stop", "dup")
	te.mustRun("destroy", "-f", first)
}

// An empty agent branch that git will not delete (checked out in the
// user's own checkout) is kept with a note; destroy still succeeds.
func TestDestroyKeepsCheckedOutEmptyBranch(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	repo := userRepo(t, te)
	te.mustRun("create", "co", "command", "--no-connect", "--", "sleep", "60")
	// The user checks the agent's branch out elsewhere once the agent is gone.
	te.mustRun("stop", "co")
	wt := filepath.Join(te.env["HOME"], "review")
	var res struct {
		Agents []map[string]any `json:"agents"`
	}
	if err := jsonUnmarshal(te.mustRun("list", "--format", "json"), &res); err != nil || len(res.Agents) != 1 {
		t.Fatalf("list: %v %v", err, res)
	}
	gitIn(t, res.Agents[0]["work_dir"].(string), "switch", "-q", "--detach")
	gitIn(t, repo, "worktree", "add", "-q", wt, "mngr/co")
	code, del := destroyBranches(t, te, "co")
	if code != 0 || len(del) != 0 {
		t.Fatalf("destroy: exit %d deleted %+v stderr %s", code, del, te.errOut)
	}
	if gitIn(t, wt, "branch", "--show-current") != "mngr/co" {
		t.Error("the checked-out branch went")
	}
}
