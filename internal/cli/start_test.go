package cli

import (
	"strings"
	"testing"
)

func TestStartRestartsStoppedAgent(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	te.mustRun("stop", "demo")
	out := te.mustRun("start", "demo")
	if want := "Started agent: demo\nSuccessfully started 1 agent(s)\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	waitAgentState(t, te, "demo", "WAITING", "RUNNING")
}

func TestStartStartsOfflineHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "c1", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.mustRun("stop", "c1")
	te.mustRun("start", "c1", "--format", "json")
	if !strings.Contains(te.out.String(), `"started_agents":["c1"]`) {
		t.Errorf("stdout = %q", te.out)
	}
	waitAgentState(t, te, "c1", "WAITING", "RUNNING")
}

func TestStartMissing(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("start"); code != ExitUsage {
		t.Errorf("no args exit = %d", code)
	}
	if code := te.run("start", "nope"); code != 1 {
		t.Errorf("missing exit = %d", code)
	}
}
