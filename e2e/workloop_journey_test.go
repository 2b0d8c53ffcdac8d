//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// gitAt runs git in dir for a journey and returns its trimmed output.
func gitAt(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// journeyRepo makes the user's repository (two commits on main) under the
// journey's directory and makes it the directory mngr runs in.
func journeyRepo(t *testing.T, j *journey) string {
	t.Helper()
	repo := filepath.Join(j.dir, "proj")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	gitAt(t, repo, "init", "-q", "-b", "main")
	gitAt(t, repo, "config", "user.name", "Journey User")
	gitAt(t, repo, "config", "user.email", "journey@example.com")
	for _, f := range []string{"one", "two"} {
		if err := os.WriteFile(filepath.Join(repo, f+".txt"), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		gitAt(t, repo, "add", f+".txt")
		gitAt(t, repo, "commit", "-q", "-m", f)
	}
	j.dir = repo
	return repo
}

// TestWorkLoopOnAzsim is the daily loop on an Azure VM (azsim with real
// machines): create from a repository mirrors it into the container on
// mngr/<name>; the agent's commit comes back with git pull, the user's
// commit goes to the agent with git push; rsync copies a plain directory in
// and a result out; stop/start keeps the repository and branch; bad input
// and a failed transfer leave nothing behind.
func TestWorkLoopOnAzsim(t *testing.T) {
	// Mostly waiting on simulated VMs (boot, cloud-init, docker load): it
	// runs beside the other VM journeys (its own azsim and addresses).
	t.Parallel()
	needDockerJourney(t, "the work loop boots a real simulated VM")
	for _, tool := range []string{"git", "rsync", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s is not installed", tool)
		}
	}
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")
	j.useDefaultTransfer()
	repo := journeyRepo(t, j)

	var created struct {
		WorkDir  string `json:"work_dir"`
		Transfer string `json:"transfer"`
		Branch   string `json:"branch"`
		HostName string `json:"host_name"`
	}
	if err := json.Unmarshal([]byte(j.must("create", "w1", "--provider", "azure", "--no-connect", "--format", "json")), &created); err != nil {
		t.Fatal(err)
	}
	if created.Transfer != "git-mirror" || created.Branch != "mngr/w1" || !strings.HasPrefix(created.WorkDir, "/mngr/projects/") {
		t.Fatalf("create result %+v", created)
	}
	if out := j.must("exec", "w1", "git branch --show-current; git log --format=%s"); out != "mngr/w1\ntwo\none\n" {
		t.Fatalf("agent's repository: %q", out)
	}
	// The agent commits (as the user's identity, copied into its repository).
	j.must("exec", "w1", "echo by-agent > agent.txt && git add agent.txt && git commit -q -m 'agent work'")
	j.must("git", "pull", "w1")
	if got := gitAt(t, repo, "log", "-1", "--format=%s %ae", "mngr/w1"); got != "agent work journey@example.com" {
		t.Errorf("pulled mngr/w1 is at %q", got)
	}
	if gitAt(t, repo, "branch", "--show-current") != "main" || gitAt(t, repo, "status", "--porcelain") != "" {
		t.Error("git pull touched the user's checkout")
	}
	// The user reviews on the agent's branch and pushes; the agent sees it.
	gitAt(t, repo, "switch", "-q", "mngr/w1")
	if err := os.WriteFile(filepath.Join(repo, "review.txt"), []byte("from the user\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitAt(t, repo, "add", "review.txt")
	gitAt(t, repo, "commit", "-q", "-m", "review")
	gitAt(t, repo, "switch", "-q", "main")
	j.must("git", "push", "w1")
	if out := j.must("exec", "w1", "cat review.txt; git log -1 --format=%s"); out != "from the user\nreview\n" {
		t.Errorf("agent after push: %q", out)
	}

	// rsync: a plain directory in, a result out; a path escaping the work
	// dir is refused.
	data := filepath.Join(filepath.Dir(repo), "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "input.csv"), []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	j.must("rsync", data+"/", "w1:data/")
	j.must("exec", "w1", "wc -l < data/input.csv > result.txt")
	out := filepath.Join(filepath.Dir(repo), "result.txt")
	j.must("rsync", "w1:result.txt", out)
	if b, err := os.ReadFile(out); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("result copied out: %q %v", b, err)
	}
	if _, errOut, err := j.mngr("rsync", "w1:../../etc/", filepath.Join(filepath.Dir(repo), "etc")); err == nil || !strings.Contains(errOut, "outside the work dir") {
		t.Errorf("escaping path: err=%v stderr=%s", err, errOut)
	}
	// A plain directory as a second agent's project, on the same host, by rsync.
	var second struct {
		WorkDir  string `json:"work_dir"`
		Transfer string `json:"transfer"`
	}
	if err := json.Unmarshal([]byte(j.must("create", "r1", "--provider", "azure", "--host", created.HostName, "--source", data, "--no-connect", "--format", "json")), &second); err != nil {
		t.Fatal(err)
	}
	if second.Transfer != "rsync" {
		t.Errorf("plain directory transfer = %q", second.Transfer)
	}
	if out := j.must("exec", "r1", "cat input.csv"); out != "a,b\n" {
		t.Errorf("rsync transfer: %q", out)
	}

	// Messages in, screen out; a credential passed with --pass-env reaches
	// the agent's environment only.
	j.env = append(j.env, "MNGR_JOURNEY_TOKEN=tok-"+filepath.Base(j.data))
	j.must("create", "c1", "command", "--provider", "azure", "--host", created.HostName, "--transfer", "none", "--no-connect",
		"--pass-env", "MNGR_JOURNEY_TOKEN", "-m", "hello", "--", "cat")
	j.must("message", "c1", "-m", "second")
	if out := j.must("capture", "c1"); !strings.Contains(out, "hello") || !strings.Contains(out, "second") {
		t.Errorf("capture after two messages:\n%s", out)
	}
	if out := j.must("exec", "c1", "echo $MNGR_JOURNEY_TOKEN"); strings.TrimSpace(out) != "tok-"+filepath.Base(j.data) {
		t.Errorf("--pass-env: %q", out)
	}
	j.must("destroy", "-f", "c1")

	// Stop deallocates; pull says to start; start keeps repository and branch.
	j.must("stop", "w1", "r1")
	if _, errOut, err := j.mngr("git", "pull", "w1"); err == nil || !strings.Contains(errOut, "mngr start w1") {
		t.Errorf("pull from a stopped host: err=%v stderr=%s", err, errOut)
	}
	j.must("start", "w1")
	if out := j.must("exec", "w1", "git branch --show-current; git log -1 --format=%s; cat agent.txt"); out != "mngr/w1\nreview\nby-agent\n" {
		t.Errorf("after stop/start: %q", out)
	}

	// Bad input makes nothing; a transfer that fails on a new host takes
	// the host with it.
	if err := os.WriteFile(filepath.Join(repo, "one.txt"), []byte("dirty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vms := j.countVMs()
	if _, errOut, err := j.mngr("create", "dirty", "--provider", "azure", "--no-connect"); err == nil || !strings.Contains(errOut, "--no-ensure-clean") {
		t.Errorf("dirty tree: err=%v stderr=%s", err, errOut)
	}
	gitAt(t, repo, "checkout", "-q", "--", "one.txt")
	if _, errOut, err := j.mngr("create", "badpath:/proc/mngr-cannot-write-here", "--provider", "azure", "--no-connect"); err == nil || !strings.Contains(errOut, "transfer") {
		t.Errorf("failing transfer: err=%v stderr=%s", err, errOut)
	}
	if n := j.countVMs(); n != vms {
		t.Errorf("bad input and a failed transfer left %d VM(s), want %d", n, vms)
	}
	if _, errOut, err := j.mngr("git", "pull", "nosuch"); err == nil || !strings.Contains(errOut, "mngr list") {
		t.Errorf("unknown agent: err=%v stderr=%s", err, errOut)
	}

	j.must("destroy", "-f", "w1", "r1")
	j.must("gc")
	j.must("azure", "cleanup")
	j.checkNothingLeft()
	if got := gitAt(t, repo, "log", "-1", "--format=%s", "mngr/w1"); got != "review" {
		t.Errorf("the pulled branch is gone after destroy: %q", got)
	}
}
