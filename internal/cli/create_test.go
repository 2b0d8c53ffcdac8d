package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestCreateFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		setting []string
		want    createPlan
		wantErr string
	}{
		{
			name: "positional type and agent args",
			args: []string{"demo", "command", "--", "sleep", "600"},
			want: createPlan{provider: "local", spec: core.AgentSpec{Name: "demo", Type: "command", Command: "sleep 600", Labels: map[string]string{}, TmuxWidth: 200, TmuxHeight: 50, ReadyTimeoutSeconds: 10}},
		},
		{
			name: "address with host and provider, labels and env",
			args: []string{"w1@box.fakecloud", "--type", "command", "--command", "true", "--label", "project=x", "--env", "A=b c"},
			want: createPlan{provider: "fakecloud", hostName: "box", spec: core.AgentSpec{Name: "w1", Type: "command", Command: "true", Env: []string{"A=b c"}, Labels: map[string]string{"project": "x"}, TmuxWidth: 200, TmuxHeight: 50, ReadyTimeoutSeconds: 10}},
		},
		{
			name:    "type from config",
			args:    []string{"--name", "n1", "--", "echo", "hi there"},
			setting: []string{"commands.create.type=command"},
			want:    createPlan{provider: "local", spec: core.AgentSpec{Name: "n1", Type: "command", Command: "echo 'hi there'", Labels: map[string]string{}, TmuxWidth: 200, TmuxHeight: 50, ReadyTimeoutSeconds: 10}},
		},
		{name: "no type", args: []string{"demo"}, wantErr: "no agent type provided"},
		{name: "bad name", args: []string{"bad.name", "command", "--", "true"}, wantErr: `invalid agent name "bad.name"`},
		{name: "bad label", args: []string{"d", "command", "--label", "nokey", "--", "true"}, wantErr: `invalid --label "nokey"`},
		{name: "two types", args: []string{"d", "claude", "--type", "codex"}, wantErr: "type given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEnv(t)
			var got *createOptions
			te.f.global.settings = tt.setting
			cmd := newCmdCreate(te.f, func(o *createOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			var pl createPlan
			if err == nil {
				cfg, cerr := te.f.Config()
				if cerr != nil {
					t.Fatal(cerr)
				}
				pl, err = planCreate(got, cfg)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, pl, cmp.AllowUnexported(createPlan{})); d != "" {
				t.Errorf("plan (-want +got)\n%s", d)
			}
		})
	}
}

func TestCreateBuildArgsVerbatimOnNewHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	var res map[string]any
	te.mustRun("create", "w1", "command", "--provider", "fakecloud", "-b", "--vm-size=Standard_B2s", "-b", "a b", "-s", "--x", "--format", "json", "--", "sleep", "60")
	te.jsonOut(&res)
	if len(te.cloud.requests) != 1 {
		t.Fatalf("CreateHost calls = %d, want 1", len(te.cloud.requests))
	}
	req := te.cloud.requests[0]
	if d := cmp.Diff([]string{"--vm-size=Standard_B2s", "a b"}, req.BuildArgs); d != "" {
		t.Errorf("build args (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"--x"}, req.StartArgs); d != "" {
		t.Errorf("start args (-want +got)\n%s", d)
	}
	if res["host_name"] != req.Name || !strings.HasPrefix(res["agent_id"].(string), "agent-") {
		t.Errorf("result = %v", res)
	}
	for _, h := range te.cloud.hosts {
		if len(h.agents) != 1 {
			t.Errorf("persisted agents = %v, want one", h.agents)
		}
	}
	// A duplicate name on the same host is refused and leaves no new host.
	if code := te.run("create", "w1@"+req.Name+".fakecloud", "command", "--", "true"); code == 0 {
		t.Error("duplicate create succeeded")
	}
	if len(te.cloud.hosts) != 1 {
		t.Errorf("hosts = %d, want 1", len(te.cloud.hosts))
	}
}

func TestCreateLocalJSONL(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	out := te.mustRun("create", "demo", "--type", "command", "--format", "jsonl", "--", "sleep", "60")
	var ev map[string]any
	if err := jsonUnmarshal(out, &ev); err != nil {
		t.Fatal(err)
	}
	if ev["event"] != "created" || ev["host_name"] != "localhost" {
		t.Errorf("event = %v", ev)
	}
	if !strings.Contains(te.errOut.String(), `{"event":"progress","status":"started","step":"starting agent demo"}`) {
		t.Errorf("stderr lacks jsonl progress events: %q", te.errOut)
	}
	code := te.run("create", "demo", "--type", "command", "--", "sleep", "60")
	if code != 1 || !strings.Contains(te.errOut.String(), "demo") {
		t.Errorf("duplicate: code %d stderr %q", code, te.errOut)
	}
}

func TestCreateMissingTypeIsUsageError(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("create", "demo"); code != ExitUsage {
		t.Errorf("exit = %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(te.errOut.String(), "mngr config set commands.create.type") {
		t.Errorf("stderr = %q", te.errOut)
	}
	if !errors.Is(core.ErrInvalidInput, core.ErrInvalidInput) {
		t.Fatal("unreachable")
	}
}

func TestCreateHostSelection(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	// A new host named in the address is created; --host must exist.
	te.mustRun("create", "a1@box.fakecloud", "command", "--", "sleep", "60")
	if len(te.cloud.requests) != 1 || te.cloud.requests[0].Name != "box" {
		t.Fatalf("requests = %+v", te.cloud.requests)
	}
	te.mustRun("create", "a2", "command", "--provider", "fakecloud", "--host", "box", "--", "sleep", "60")
	if len(te.cloud.requests) != 1 {
		t.Errorf("--host box created a host: %+v", te.cloud.requests)
	}
	if code := te.run("create", "a3", "command", "--provider", "fakecloud", "--host", "nobox", "--", "true"); code != 1 || !strings.Contains(te.errOut.String(), `host "nobox" not found`) {
		t.Errorf("missing --host: code %d stderr %q", code, te.errOut)
	}
	if code := te.run("create", "a4@otherhost", "command", "--", "true"); code == 0 || !strings.Contains(te.errOut.String(), "otherhost") {
		t.Errorf("local with a non-localhost host: code %d", code)
	}
}

// A refused create never removes what it did not make: create NAME:PATH
// into an existing, non-empty directory (a plain copy, and a git worktree
// over an existing worktree holding uncommitted work) fails and leaves the
// directory, its files, the worktree and its branch as they were.
func TestCreateIntoExistingDirKeepsIt(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.transferNone = false
	if err := os.WriteFile(filepath.Join(te.cwd, "src.txt"), []byte("source\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(te.env["HOME"], "mine")
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "precious.txt"), []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := te.run("create", "c1:"+target, "command", "--no-connect", "--", "sleep", "60"); code == 0 || !strings.Contains(te.errOut.String(), "not empty") {
		t.Fatalf("create into a non-empty dir: exit %d stderr %s", code, te.errOut)
	}
	if b, err := os.ReadFile(filepath.Join(target, "precious.txt")); err != nil || string(b) != "keep\n" {
		t.Fatalf("the refused create touched the target: %q %v", b, err)
	}

	repo := userRepo(t, te)
	wt := filepath.Join(te.env["HOME"], "wt")
	gitIn(t, repo, "worktree", "add", "-q", "-b", "mine", wt)
	if err := os.WriteFile(filepath.Join(wt, "one.txt"), []byte("uncommitted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := te.run("create", "c2:"+wt, "command", "--no-connect", "--", "sleep", "60"); code == 0 || !strings.Contains(te.errOut.String(), "not empty") {
		t.Fatalf("create over an existing worktree: exit %d stderr %s", code, te.errOut)
	}
	if b, err := os.ReadFile(filepath.Join(wt, "one.txt")); err != nil || string(b) != "uncommitted\n" {
		t.Fatalf("the existing worktree's uncommitted work: %q %v", b, err)
	}
	if gitIn(t, wt, "branch", "--show-current") != "mine" {
		t.Error("the existing worktree changed branch")
	}
	if out, _ := exec.Command("git", "-C", repo, "branch", "--list", "mngr/c2").Output(); len(out) != 0 {
		t.Errorf("the refused create left branch mngr/c2")
	}
	if agentState(t, te, "c1") != "" || agentState(t, te, "c2") != "" {
		t.Error("a refused create left an agent")
	}
}
