//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestIdlePolicyOnAzsim drives the per-host idle policy and the cost
// hygiene verbs on real simulated VMs: a host created with a one-hour
// idle timeout is given 20 seconds with `mngr limit --host` while it runs,
// and its watcher, which rereads the policy, deallocates it; `destroy
// @HOST` then removes the stopped host; and gc destroys a running host
// left without agents once it has been quiet for the minimum age.
func TestIdlePolicyOnAzsim(t *testing.T) {
	t.Parallel()
	needDockerJourney(t, "boots real simulated VMs")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")

	t.Run("limit shortens the idle timeout of a live host", func(t *testing.T) {
		j := j.with(t)
		j.must("create", "limited", "--provider", "azure", "--no-connect", "--idle-timeout", "1h")
		host := j.listAgents()["limited"].Host.Name
		if out := j.must("limit", "limited"); !strings.Contains(out, "stops after 1h without user, agent, ssh, create, start, boot activity (mode io)") {
			t.Fatalf("limit limited: %q", out)
		}
		var ee *exec.ExitError
		if _, stderr, err := j.mngr("limit", "--host", host, "--idle-timeout", "20 seconds"); !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr, "30s, 5m, 1h, 7d") {
			t.Errorf("a bad duration: %v %q, want exit 2 naming the accepted forms", err, stderr)
		}
		var res struct {
			Hosts []struct {
				Timeout  int  `json:"idle_timeout_seconds"`
				Enforced bool `json:"enforced"`
			} `json:"hosts"`
		}
		if err := json.Unmarshal([]byte(j.must("limit", "--host", host, "--idle-timeout", "20s", "--format", "json")), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Hosts) != 1 || res.Hosts[0].Timeout != 20 || !res.Hosts[0].Enforced {
			t.Fatalf("limit --host %s: %+v", host, res)
		}
		j.waitHostState("limited", "STOPPED", 3*time.Minute)
		if p, billing := j.vmBilling(host); p != "deallocated" || billing {
			t.Errorf("idle VM: power %q billing %v, want deallocated and not billing", p, billing)
		}
		out := j.must("destroy", "-f", "@"+host+".azure", "--format", "json")
		var d struct {
			Hosts []string `json:"destroyed_hosts"`
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Hosts) != 1 || d.Hosts[0] != host {
			t.Errorf("destroy @%s: %v %q", host, err, out)
		}
		if _, ok := j.listAgents()["limited"]; ok {
			t.Error("the agent of the destroyed host is still listed")
		}
	})

	t.Run("gc destroys a quiet host left without agents", func(t *testing.T) {
		j := j.with(t)
		j.must("create", "orphan", "--provider", "azure", "--no-connect")
		host := j.listAgents()["orphan"].Host.Name
		// What a lost agent leaves: its session and state gone, the VM up.
		j.must("exec", "orphan", `tmux kill-server 2>/dev/null; rm -rf "$MNGR_HOST_DIR"/agents`)
		var res struct {
			Machines []struct {
				Name string `json:"name"`
				Done bool   `json:"done"`
			} `json:"machines_destroyed"`
		}
		// With the default minimum age (600 s) the fresh host stays.
		if err := json.Unmarshal([]byte(j.must("gc", "--provider", "azure", "--dry-run", "--format", "json")), &res); err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Machines {
			if m.Name == host {
				t.Fatalf("gc would take host %s that was active seconds ago", host)
			}
		}
		out := j.must("gc", "--provider", "azure", "-S", "default_min_online_host_age_seconds=0", "--format", "json")
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range res.Machines {
			found = found || (m.Name == host && m.Done)
		}
		if !found {
			t.Errorf("gc did not destroy the agent-less host %s: %s", host, out)
		}
		if n := j.countVMs(); n != 0 {
			t.Errorf("%d VM(s) left after gc", n)
		}
	})

	j.must("gc")
	j.must("azure", "cleanup")
	j.checkNothingLeft()
}
