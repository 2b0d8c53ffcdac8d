package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStopLocalKeepsHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	var res map[string]any
	te.mustRun("stop", "demo", "--format", "json")
	te.jsonOut(&res)
	want := map[string]any{"stopped_agents": []any{"demo"}, "count": 1.0, "failures": []any{}, "failure_count": 0.0, "exit_code": 0.0}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if state := agentState(t, te, "demo"); state != "STOPPED" {
		t.Errorf("state after stop = %s", state)
	}
}

func TestStopCloudStopsHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "c1", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.mustRun("stop", "c1")
	if len(te.cloud.stopped) != 1 {
		t.Fatalf("StopHost calls = %v, want 1", te.cloud.stopped)
	}
	if state := agentState(t, te, "c1"); state != "STOPPED" {
		t.Errorf("offline agent state = %s", state)
	}
	// --no-stop-host keeps it running.
	te.mustRun("start", "c1")
	te.mustRun("stop", "c1", "--no-stop-host")
	if len(te.cloud.stopped) != 1 {
		t.Errorf("StopHost calls = %v, want still 1", te.cloud.stopped)
	}
}

// A host powered off from inside (offline, still billing) is stopped
// through the provider by `mngr stop`, as list's hint promises.
func TestStopPoweredOffHostStopsBilling(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "c1", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.cloud.mu.Lock()
	for _, h := range te.cloud.hosts {
		h.running, h.poweredOff = false, true
	}
	te.cloud.mu.Unlock()
	te.mustRun("stop", "c1")
	if len(te.cloud.stopped) != 1 {
		t.Fatalf("StopHost calls = %v, want 1 for the powered-off host", te.cloud.stopped)
	}
	te.mustRun("list", "--format", "json")
	var res struct {
		Agents []struct {
			Host struct {
				State string `json:"state"`
			} `json:"host"`
		} `json:"agents"`
	}
	te.jsonOut(&res)
	if len(res.Agents) != 1 || res.Agents[0].Host.State != "STOPPED" {
		t.Errorf("host after stop: %+v, want STOPPED", res.Agents)
	}
}

func TestStopMissingAgent(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("stop", "ghost"); code != 1 {
		t.Errorf("exit = %d", code)
	}
}

// agentState returns the listed state of the named agent ("" if absent).
func agentState(t *testing.T, te *testEnv, name string) string {
	t.Helper()
	te.mustRun("list", "--format", "json")
	var res struct {
		Agents []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"agents"`
	}
	if err := json.Unmarshal(te.out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Agents {
		if a.Name == name {
			return a.State
		}
	}
	return ""
}

// waitAgentState polls list until the agent reaches one of want (the command
// is typed into the agent's shell, so it shows up a moment after start).
func waitAgentState(t *testing.T, te *testEnv, name string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := agentState(t, te, name)
		for _, w := range want {
			if s == w {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s state %s, want one of %v", name, s, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
