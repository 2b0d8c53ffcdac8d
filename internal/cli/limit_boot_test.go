package cli

import (
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// TestLimitStartOnBoot: an agent marked with limit --start-on-boot starts
// when mngr starts its stopped host for another agent; the mark shows in
// list, survives in the record, and =false takes it away.
func TestLimitStartOnBoot(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	host, hostID := twoAgentsOnACloudHost(t, te, "b1", "b2")
	waitAgentState(t, te, "b2", "WAITING")

	if out := te.mustRun("limit", "b2", "--start-on-boot"); !strings.Contains(out, "Agent b2 now starts whenever mngr starts its host "+host) {
		t.Fatalf("limit --start-on-boot: %q", out)
	}
	te.mustRun("list", "--format", "json")
	var doc struct {
		Agents []agentDetails `json:"agents"`
	}
	te.jsonOut(&doc)
	for _, a := range doc.Agents {
		if a.StartOnBoot != (a.Name == "b2") {
			t.Errorf("agent %s start_on_boot = %v", a.Name, a.StartOnBoot)
		}
	}

	te.mustRun("stop", "b1", "b2")
	if te.cloud.hosts[hostID].running {
		t.Fatal("the host still runs after its agents stopped")
	}
	te.mustRun("start", "b1")
	if !strings.Contains(te.errOut.String(), "starting agent b2 (it starts with its host)") {
		t.Errorf("start b1 did not start b2 with the host:\n%s", te.errOut)
	}
	waitAgentState(t, te, "b2", "WAITING")

	te.mustRun("limit", "--host", host, "--start-on-boot=false")
	te.mustRun("stop", "b1", "b2")
	te.mustRun("start", "b1")
	waitAgentState(t, te, "b1", "WAITING")
	te.mustRun("list", "--format", "json")
	doc.Agents = nil
	te.jsonOut(&doc)
	for _, a := range doc.Agents {
		if a.StartOnBoot || a.Name == "b2" && a.State != core.AgentStopped {
			t.Errorf("after --start-on-boot=false: %s start_on_boot %v state %s", a.Name, a.StartOnBoot, a.State)
		}
	}
}

// TestStartTwoBootAgentsOfOneHost: starting two agents of one stopped host
// that both start with it starts each once, without an error for the one
// the host's start already started.
func TestStartTwoBootAgentsOfOneHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	host, _ := twoAgentsOnACloudHost(t, te, "c1", "c2")
	te.mustRun("limit", "--host", host, "--start-on-boot")
	te.mustRun("stop", "c1", "c2")
	if code := te.run("start", "c1", "c2"); code != 0 {
		t.Fatalf("start c1 c2: exit %d, stderr %s", code, te.errOut)
	}
	waitAgentState(t, te, "c1", "WAITING")
	waitAgentState(t, te, "c2", "WAITING")
}

// twoAgentsOnACloudHost creates agents a and b on one new fakecloud host
// and returns its name and id.
func twoAgentsOnACloudHost(t *testing.T, te *testEnv, a, b string) (string, core.HostID) {
	t.Helper()
	te.mustRun("create", a, "command", "--provider", "fakecloud", "--format", "json", "--", "sleep", "600")
	var cr createResult
	te.jsonOut(&cr)
	host := te.cloud.hosts[cr.HostID].dh.Name
	te.mustRun("create", b, "command", "--provider", "fakecloud", "--host", host, "--", "sleep", "600")
	return host, cr.HostID
}
