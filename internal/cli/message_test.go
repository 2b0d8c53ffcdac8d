package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMessageArgs(t *testing.T) {
	tests := []struct {
		args       []string
		wantAgents []string
		wantText   string
		wantFile   string
		wantStart  bool
		wantErr    bool
	}{
		{args: []string{"a", "-m", "hi"}, wantAgents: []string{"a"}, wantText: "hi"},
		{args: []string{"a", "b", "--message", "x y"}, wantAgents: []string{"a", "b"}, wantText: "x y"},
		{args: []string{"--agent", "c", "--message-file", "-", "--start"}, wantAgents: []string{"c"}, wantFile: "-", wantStart: true},
		{args: []string{"a", "-m", ""}, wantAgents: []string{"a"}, wantText: ""}, // refused later, as empty
		{args: []string{"a"}, wantErr: true},
		{args: []string{"a", "-m", "x", "--message-file", "f"}, wantErr: true},
		{args: []string{"-m", "x"}, wantErr: true},
	}
	for _, tt := range tests {
		te := newTestEnv(t)
		var got *messageOptions
		cmd := newCmdMessage(te.f, func(o *messageOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SetOut(te.out)
		cmd.SetErr(te.errOut)
		err := cmd.Execute()
		if tt.wantErr {
			if err == nil {
				t.Errorf("%v: want error", tt.args)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if d := cmp.Diff([]any{tt.wantAgents, tt.wantText, tt.wantFile, tt.wantStart}, []any{got.Agents, got.Message, got.MessageFile, got.Start}); d != "" {
			t.Errorf("%v (-want +got)\n%s", tt.args, d)
		}
	}
}

// waitCapture runs mngr capture until its output holds want (at most 5 s).
func (te *testEnv) waitCapture(agent, want string) string {
	te.t.Helper()
	var got string
	for i := 0; i < 50; i++ {
		got = te.mustRun("capture", agent)
		if strings.Contains(got, want) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	te.t.Fatalf("mngr capture %s never showed %q; it shows:\n%s", agent, want, got)
	return got
}

func TestMessageAndCapture(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "cat")
	te.mustRun("create", "other", "command", "--", "cat")
	sinkFile := filepath.Join(t.TempDir(), "received")
	te.mustRun("create", "sink", "command", "--", "sh", "-c", "cat > "+sinkFile)

	te.mustRun("message", "demo", "-m", "hello")
	if !strings.Contains(te.errOut.String(), "Message sent to agent demo") {
		t.Errorf("stderr = %q", te.errOut)
	}
	// The tty echoes the typed line, then cat prints it back.
	te.waitCapture("demo", "hello\nhello\n")
	te.mustRun("capture", "demo", "--full", "--format", "json")
	var capture struct{ Agent, Content string }
	te.jsonOut(&capture)
	if capture.Agent != "demo" || !strings.Contains(capture.Content, "hello\nhello\n") {
		t.Errorf("capture json = %+v", capture)
	}

	// Several lines from stdin reach the agent intact, as separate lines.
	te.reset()
	te.f.IO.In = strings.NewReader("line one\n  line two\n\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := Run(ctx, te.f, []string{"msg", "sink", "--message-file", "-"}); code != 0 {
		t.Fatalf("message from stdin: exit %d: %s", code, te.errOut)
	}
	var received string
	for i := 0; i < 50 && received != "line one\n  line two\n"; i++ {
		data, _ := os.ReadFile(sinkFile)
		received = string(data)
		time.Sleep(100 * time.Millisecond)
	}
	if received != "line one\n  line two\n" {
		t.Errorf("sink received %q", received)
	}

	// One unknown agent among several: the others get the message, exit 1.
	if code := te.run("message", "demo", "missing", "other", "-m", "to all", "--format", "json"); code != 1 {
		t.Errorf("with an unknown agent: exit %d, want 1", code)
	}
	var res struct {
		Results []messageResult  `json:"results"`
		Failed  []messageFailure `json:"failed_agents"`
		Sent    int              `json:"total_sent"`
		NFailed int              `json:"total_failed"`
	}
	te.jsonOut(&res)
	wantFailed := []messageFailure{{Agent: "missing", Error: `no agent named "missing"`, Hint: "run 'mngr list' to see the agents and their names"}}
	if d := cmp.Diff([]messageResult{{"demo", true, true, "pane", 0}, {"other", true, true, "pane", 0}}, res.Results); d != "" || res.Sent != 2 || res.NFailed != 1 {
		t.Errorf("results (-want +got)\n%s\n%+v", d, res)
	}
	if d := cmp.Diff(wantFailed, res.Failed); d != "" {
		t.Errorf("failed_agents (-want +got)\n%s", d)
	}
	te.waitCapture("other", "to all\nto all\n")
	if code := te.run("message", "missing", "demo", "-m", "again", "--format", "jsonl"); code != 1 {
		t.Errorf("jsonl with an unknown agent: exit %d, want 1", code)
	}
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(te.out.String()), "\n") {
		var ev map[string]any
		if err := jsonUnmarshalString(line, &ev); err != nil {
			t.Fatalf("jsonl line %q: %v", line, err)
		}
		events = append(events, ev)
	}
	if len(events) != 2 || events[0]["event"] != "message_error" || events[0]["agent"] != "missing" ||
		events[1]["event"] != "message_sent" || events[1]["agent"] != "demo" {
		t.Errorf("jsonl events = %v", events)
	}

	// A stopped agent fails with a hint to start it; --start starts it.
	te.mustRun("stop", "demo")
	if code := te.run("message", "demo", "-m", "are you there"); code != 1 ||
		!strings.Contains(te.errOut.String(), "stopped") || !strings.Contains(te.errOut.String(), "mngr start demo") {
		t.Errorf("stopped agent: exit %d, stderr %q", code, te.errOut)
	}
	if code := te.run("capture", "demo"); code != 1 || !strings.Contains(te.errOut.String(), "mngr start demo") {
		t.Errorf("capture of a stopped agent: exit %d, stderr %q", code, te.errOut)
	}
	te.mustRun("message", "demo", "-m", "wake up", "--start")
	te.waitCapture("demo", "wake up\nwake up\n")
}

func jsonUnmarshalString(s string, v any) error { return json.Unmarshal([]byte(s), v) }
