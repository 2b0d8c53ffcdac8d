package core

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/scripttest"
)

// TestScriptsParse checks every embedded script with sh -n and bash -n.
func TestScriptsParse(t *testing.T) {
	got := scripttest.CheckSyntax(t, os.DirFS("scripts"))
	want := []string{"agent_config.sh", "claim_name.sh", "install_cli.sh", "list_agents.sh", "pane.sh", "start_agent.sh", "stop_agent.sh", "transcript.sh"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scripts (-want +got)\n%s", d)
	}
}

// TestScriptsUseTheGoConstants checks that each script exits with the exit
// codes and prints the markers the Go side reads under their constants.
func TestScriptsUseTheGoConstants(t *testing.T) {
	exit := func(code int) string { return fmt.Sprintf("exit %d", code) }
	tests := []struct {
		name, script string
		want         []string
	}{
		{"start_agent.sh", startAgentSh, []string{exit(exitNoTmux), exit(exitNoCLI), exit(exitNoWorkDir), exit(exitWrongVersion)}},
		{"agent_config.sh", agentConfigSh, []string{exit(exitConfigChanged), "echo " + markFile + "\n"}},
		{"stop_agent.sh", stopAgentSh, []string{exit(exitProcsRemain)}},
		{"list_agents.sh", listAgentsSh, []string{markRecord + " ", "echo " + markPanes + "\n", "echo " + markPS + "\n", "/" + markerActive + `"`, "/" + markerPermissions + `"`}},
		{"install_cli.sh", installCLISh, []string{exit(exitInstallFailed)}},
		{"claim_name.sh", claimNameSh, []string{exit(exitNameTaken), exit(exitLockBusy)}},
		{"pane.sh", paneSh, []string{exit(exitNoTmux), exit(exitNoSession), "echo " + markPS + "\n", "echo " + markPane + ";"}},
	}
	for _, tt := range tests {
		for _, w := range tt.want {
			if !strings.Contains(tt.script, w) {
				t.Errorf("%s lacks %q", tt.name, w)
			}
		}
	}
}

func TestScriptCall(t *testing.T) {
	tests := []struct {
		name, script string
		args         []string
		want         string
	}{
		{"no args", "echo $#\n", nil, "set --\necho $#\n"},
		{"quoted args", "echo \"$1\"\n", []string{"it's", "-x", ""}, "set -- 'it'\\''s' -x ''\necho \"$1\"\n"},
		{"after the #! line", "#!/bin/sh\necho \"$1\"\n", []string{"a b"}, "#!/bin/sh\nset -- 'a b'\necho \"$1\"\n"},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, ScriptCall(tt.script, tt.args...)); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.name, d)
		}
	}
	// The values reach the script intact, whatever their bytes.
	h := testHost(t)
	args := []string{"it's \"$HOME\" `id` \\", "", "-n", "line\nbreak", "*"}
	got := runOK(t, h, ScriptCall(`for a; do printf '[%s]' "$a"; done`, args...))
	if want := "[it's \"$HOME\" `id` \\][][-n][line\nbreak][*]"; got != want {
		t.Errorf("script saw %q, want %q", got, want)
	}
}

// TestStartAndStopScripts runs start_agent.sh and stop_agent.sh for real:
// an extra window with a quote in its name and command, the start stamp, a
// second start that changes nothing, and a stop that ends the session and
// a process outside it carrying the agent's MNGR_AGENT_ID.
func TestStartAndStopScripts(t *testing.T) {
	isolatePaneTmux(t)
	ctx := context.Background()
	h := testHost(t)
	const prefix = "ss-"
	rec := startedAgent(t, h, prefix, AgentSpec{Name: "a", Type: "command", Command: "cat",
		Windows: []WindowCommand{{WindowName: "it's", Command: "echo \"side 'window'\""}}})
	sess := "=" + SessionName(prefix, rec.Name)
	tmux := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "tmux", args...).CombinedOutput()
		return string(out), err
	}
	if err := StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatalf("second start: %v", err)
	}
	out, err := tmux("list-windows", "-t", sess, "-F", "#{window_index} #{window_name}")
	if err != nil {
		t.Fatalf("list windows: %v %s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "0 ") || lines[1] != "1 it's" {
		t.Errorf("windows = %q, want the agent's window 0 and window 1 named it's", out)
	}
	var side string
	for i := 0; i < 50 && !strings.Contains(side, "side 'window'\n"); i++ {
		time.Sleep(100 * time.Millisecond)
		side, _ = tmux("capture-pane", "-p", "-t", sess+":it's")
	}
	if !strings.Contains(side, "side 'window'\n") {
		t.Errorf("the extra window shows %q, want its command's output", side)
	}
	if b, err := os.ReadFile(filepath.Join(agentStateDir(h, rec.ID), "activity", "start")); err != nil || !strings.HasPrefix(string(b), `{"time":`) {
		t.Errorf("start stamp = %q, %v", b, err)
	}

	tagged := exec.CommandContext(ctx, "sleep", "600")
	tagged.Env = append(os.Environ(), "MNGR_AGENT_ID="+string(rec.ID))
	if err := tagged.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- tagged.Wait() }()
	t.Cleanup(func() { _ = tagged.Process.Kill() })
	for range 2 { // the second stop finds nothing to do
		if err := StopAgent(ctx, h, prefix, rec); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := tmux("has-session", "-t", sess); err == nil {
		t.Errorf("session %s remains after the stop: %s", sess, out)
	}
	select {
	case err := <-exited:
		if err == nil {
			t.Error("the tagged sleep exited 0; want it ended by a signal")
		}
	case <-time.After(5 * time.Second):
		t.Error("the process carrying the agent's MNGR_AGENT_ID outlived the stop")
	}
}
