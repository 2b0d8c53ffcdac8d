package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExecArgs(t *testing.T) {
	tests := []struct {
		args       []string
		wantAgents []string
		wantCmd    string
		wantErr    bool
	}{
		{args: []string{"a", "ls"}, wantAgents: []string{"a"}, wantCmd: "ls"},
		{args: []string{"a", "b", "echo hi"}, wantAgents: []string{"a", "b"}, wantCmd: "echo hi"},
		{args: []string{"--agent", "c", "pwd"}, wantAgents: []string{"c"}, wantCmd: "pwd"},
		{args: []string{"pwd"}, wantErr: true},
		// After --, as with docker exec: several words are a command and its arguments.
		{args: []string{"a", "--", "ls", "-la"}, wantAgents: []string{"a"}, wantCmd: "ls -la"},
		{args: []string{"a", "b", "--", "echo", "x y"}, wantAgents: []string{"a", "b"}, wantCmd: "echo 'x y'"},
		{args: []string{"a", "--", "ls | wc -l"}, wantAgents: []string{"a"}, wantCmd: "ls | wc -l"},
		{args: []string{"a", "--"}, wantErr: true},
		{args: []string{"--", "ls"}, wantErr: true},
	}
	for _, tt := range tests {
		te := newTestEnv(t)
		var got *execOptions
		cmd := newCmdExec(te.f, func(o *execOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		err := cmd.Execute()
		if tt.wantErr {
			if err == nil {
				t.Errorf("%v: want error", tt.args)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]any{tt.wantAgents, tt.wantCmd}, []any{got.Agents, got.Command}); d != "" {
			t.Errorf("%v (-want +got)\n%s", tt.args, d)
		}
	}
}

func TestExecRunsInWorkDirWithEnv(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--env", "GREETING=hello", "--", "sleep", "60")
	var list struct {
		Agents []struct {
			WorkDir string `json:"work_dir"`
		} `json:"agents"`
	}
	te.mustRun("list", "--format", "json")
	te.jsonOut(&list)
	out := te.mustRun("exec", "demo", "pwd; echo $MNGR_AGENT_NAME $GREETING")
	want := list.Agents[0].WorkDir + "\ndemo hello\n"
	if out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	if !strings.Contains(te.errOut.String(), "Command succeeded on agent demo") {
		t.Errorf("stderr = %q", te.errOut)
	}
	var res struct {
		Results []execResult `json:"results"`
		Failed  []any        `json:"failed_agents"`
		Total   int          `json:"total_executed"`
		TFailed int          `json:"total_failed"`
	}
	if code := te.run("exec", "demo", "echo out; echo err >&2; exit 3", "--format", "json"); code != 1 {
		t.Errorf("failing command exit = %d, want 1", code)
	}
	te.jsonOut(&res)
	if d := cmp.Diff([]execResult{{Agent: "demo", Stdout: "out\n", Stderr: "err\n", Success: false}}, res.Results); d != "" || res.TFailed != 1 || res.Total != 1 {
		t.Errorf("json (-want +got)\n%s\n%+v", d, res)
	}
	if out := te.mustRun("exec", "demo", "--", "echo", "a  b"); out != "a  b\n" {
		t.Errorf("exec -- echo: stdout %q", out)
	}
	// Without --, -la is read as mngr's flag: a usage error that says to use --.
	if code := te.run("exec", "demo", "ls", "-la"); code != ExitUsage || !strings.Contains(te.errOut.String(), "mngr exec NAME -- ls -la") {
		t.Errorf("exec without --: code %d, stderr %q", code, te.errOut)
	}
	if code := te.run("exec", "missing", "true"); code != 1 || !strings.Contains(te.errOut.String(), `no agent named "missing"`) {
		t.Errorf("missing agent: code %d, stderr %q", code, te.errOut)
	}
}
