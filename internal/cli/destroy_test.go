package cli

import (
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
