package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// tamperRecord rewrites the host's record of the agent the way a process on
// the host could, and returns the file.
func tamperRecord(t *testing.T, root string, change func(m map[string]any)) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "*", "agents", "*", "data.json"))
	if len(files) != 1 {
		t.Fatalf("want one agent record under %s, got %v", root, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTamperedHostRecord: a remote host's record of an agent that names
// another repository and branch does not make destroy -b delete that
// branch, and an escape sequence in a name never reaches the terminal.
func TestTamperedHostRecord(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	userRepo(t, te)
	victim := filepath.Join(te.env["HOME"], "src", "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, victim, "init", "-q", "-b", "main")
	gitIn(t, victim, "-c", "user.name=v", "-c", "user.email=v@example.com", "commit", "-q", "--allow-empty", "-m", "v")
	gitIn(t, victim, "branch", "precious")
	tamper := func(m map[string]any) {
		m["source_path"], m["created_branch_name"] = victim, "precious"
	}

	// An agent this machine created: its own record wins, with a warning.
	te.mustRun("create", "t1", "command", "--provider", "fakecloud", "--transfer", "none", "--", "sleep", "60")
	tamperRecord(t, te.cloud.root, tamper)
	te.mustRun("destroy", "-f", "--remove-created-branch", "t1")
	if gitIn(t, victim, "branch", "--list", "precious") == "" {
		t.Fatal("destroy -b deleted a branch of another repository named by the host's record")
	}
	if !strings.Contains(te.errOut.String(), "changed created_branch_name, source_path since this machine created it") {
		t.Errorf("no warning about the changed record: %q", te.errOut)
	}

	// An agent this machine has no record of: the host's word chooses nothing.
	te.mustRun("create", "t2", "command", "--provider", "fakecloud", "--transfer", "none", "--", "sleep", "60")
	if err := os.Remove(filepath.Join(te.env["MNGR_HOST_DIR"], "origins.json")); err != nil {
		t.Fatal(err)
	}
	tamperRecord(t, te.cloud.root, tamper)
	te.mustRun("destroy", "-f", "--remove-created-branch", "t2")
	if gitIn(t, victim, "branch", "--list", "precious") == "" {
		t.Fatal("destroy -b deleted a branch named by the record of an agent this machine did not create")
	}
	if !strings.Contains(te.errOut.String(), "not deleting branch precious of agent t2") {
		t.Errorf("no warning about the skipped branch: %q", te.errOut)
	}

	// A name with an escape sequence is shown escaped.
	te.mustRun("create", "t3", "command", "--provider", "fakecloud", "--transfer", "none", "--", "sleep", "60")
	tamperRecord(t, te.cloud.root, func(m map[string]any) { m["name"] = "t3\x1b]0;pwned\x07\x1b[2J" })
	out := te.mustRun("list")
	if strings.ContainsAny(out+te.errOut.String(), "\x1b\x07") || !strings.Contains(out, `t3\x1b]0;pwned\a\x1b[2J`) {
		t.Errorf("list printed a raw escape sequence or lost the name: %q", out)
	}
}

func TestTrustedForLocalAction(t *testing.T) {
	te := newTestEnv(t)
	ctx := context.Background()
	rec := core.AgentRecord{ID: "agent-1", Name: "a", SourcePath: "/src/mine", CreatedBranchName: "mngr/a", WorkDir: "/w/a"}
	newAgentOrigins(te.f).put(ctx, "fakecloud", rec)
	host := rec
	host.SourcePath, host.CreatedBranchName, host.WorkDir = "/src/other", "main", "/"
	got, err := trustedForLocalAction(ctx, te.f, host, false)
	if err != nil || got.SourcePath != "/src/mine" || got.CreatedBranchName != "mngr/a" || got.WorkDir != "/w/a" {
		t.Errorf("known agent: %+v %v", got, err)
	}
	for _, branch := range []string{"--upload-pack=touch /tmp/x", "a..b", "x\x1by", "a b", "refs/../x", ".hidden", "x.lock"} {
		unknown := core.AgentRecord{ID: "agent-2", Name: "b", SourcePath: "/src/other", CreatedBranchName: branch}
		if _, err := trustedForLocalAction(ctx, te.f, unknown, false); err == nil {
			t.Errorf("branch %q from an unknown agent's host record was accepted", branch)
		}
	}
	unknown := core.AgentRecord{ID: "agent-2", Name: "b", SourcePath: "/src/other", CreatedBranchName: "mngr/b"}
	got, err = trustedForLocalAction(ctx, te.f, unknown, false)
	if err != nil || got.SourcePath != "" || got.CreatedBranchName != "mngr/b" {
		t.Errorf("unknown remote agent: %+v %v", got, err)
	}
	if got, _ := trustedForLocalAction(ctx, te.f, unknown, true); got.SourcePath != "/src/other" {
		t.Errorf("an agent on this machine lost its source path: %+v", got)
	}
	info, err := os.Stat(filepath.Join(te.env["MNGR_HOST_DIR"], "origins.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("origins.json: %v %v", info, err)
	}
}
