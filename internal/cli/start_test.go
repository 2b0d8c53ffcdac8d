package cli

import (
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestStartRestartsStoppedAgent(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	te.mustRun("stop", "demo")
	out := te.mustRun("start", "demo")
	if want := "Started agent: demo\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	waitAgentState(t, te, "demo", "WAITING", "RUNNING")
	// A running agent is left alone and said to be running, once however
	// often it is named.
	out = te.mustRun("start", "demo", "demo", "demo@localhost")
	if want := "Agent demo is already running (mngr start --restart demo restarts it)\n"; out != want {
		t.Errorf("start of a running agent: stdout = %q, want %q", out, want)
	}
	te.mustRun("start", "demo", "--format", "json")
	if !strings.Contains(te.out.String(), `"started_agents":[],"already_running":["demo"]`) {
		t.Errorf("json = %q", te.out)
	}
	te.mustRun("destroy", "-f", "demo")
}

// -q prints the result only.
func TestQuietCreatePrintsResultOnly(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	out := te.mustRun("create", "demo", "command", "-q", "--", "sleep", "60")
	if !strings.HasPrefix(out, "Created agent demo (") || strings.Count(out, "\n") != 1 {
		t.Errorf("stdout = %q, want the one result line", out)
	}
	if te.errOut.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", te.errOut)
	}
	te.mustRun("create", "named", "command", "--format", "json", "--", "sleep", "60")
	if !strings.Contains(te.out.String(), `"agent_name":"named"`) {
		t.Errorf("create json = %q", te.out)
	}
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

// -v logs the commands run on this machine's host too, one line each.
func TestVerboseLogsLocalHostCommands(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	t.Cleanup(func() { core.SetDebugOutput(nil) })
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	te.mustRun("-v", "list")
	if !strings.Contains(te.errOut.String(), "debug ") || !strings.Contains(te.errOut.String(), " local: ") || !strings.Contains(te.errOut.String(), "→ exit 0") {
		t.Errorf("stderr = %q, want a debug line per local host command", te.errOut)
	}
}
