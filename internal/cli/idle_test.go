package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

// runStdin is te.run with stdin holding in.
func (te *testEnv) runStdin(in string, args ...string) ExitCode {
	te.t.Helper()
	te.reset()
	te.f.IO.In = strings.NewReader(in)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return Run(ctx, te.f, args)
}

func readPolicy(t *testing.T, file string) core.IdlePolicy {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("policy file: %v", err)
	}
	p, err := core.ParseIdlePolicy(string(b))
	if err != nil {
		t.Fatalf("policy file %q: %v", b, err)
	}
	return p
}

func TestLimitOnLocal(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	policyFile := filepath.Join(te.env["MNGR_HOST_DIR"], "idle_policy")

	if out := te.mustRun("limit", "demo"); !strings.Contains(out, "Host localhost [local] has idle policy: disabled (never stops on idle)") {
		t.Errorf("limit without changes: %q", out)
	}
	if _, err := os.Stat(policyFile); err == nil {
		t.Error("printing the policy wrote a policy file")
	}

	out := te.mustRun("limit", "demo", "--idle-timeout", "5m", "--idle-mode", "user")
	if !strings.Contains(out, "now has idle policy: stops after 5m without user activity (mode user)") || !strings.Contains(out, "recorded, not enforced") {
		t.Errorf("limit output: %q", out)
	}
	if !strings.Contains(te.errOut.String(), "recorded but not enforced") {
		t.Errorf("no warning that the local host never stops: %q", te.errOut)
	}
	if d := cmp.Diff(core.IdlePolicy{TimeoutSeconds: 300, Mode: "user", Sources: []string{"user"}}, readPolicy(t, policyFile)); d != "" {
		t.Errorf("policy file (-want +got)\n%s", d)
	}

	// Names from stdin, and one source added.
	if code := te.runStdin("demo\n", "limit", "-", "--add-activity-source", "ssh", "--format", "json"); code != 0 {
		t.Fatalf("limit - : exit %d %s", code, te.errOut)
	}
	var res struct {
		Hosts []struct {
			Host     string   `json:"host"`
			Mode     string   `json:"idle_mode"`
			Timeout  int      `json:"idle_timeout_seconds"`
			Sources  []string `json:"activity_sources"`
			Enforced bool     `json:"enforced"`
			Changed  bool     `json:"changed"`
		} `json:"hosts"`
	}
	te.jsonOut(&res)
	if len(res.Hosts) != 1 || res.Hosts[0].Host != "localhost" || res.Hosts[0].Mode != "custom" || res.Hosts[0].Timeout != 300 ||
		!cmp.Equal(res.Hosts[0].Sources, []string{"user", "ssh"}) || res.Hosts[0].Enforced || !res.Hosts[0].Changed {
		t.Errorf("limit json: %+v", res)
	}
	te.mustRun("limit", "--host", "localhost.local", "--remove-activity-source", "user")
	if p := readPolicy(t, policyFile); p.Mode != "ssh" || !cmp.Equal(p.Sources, []string{"ssh"}) {
		t.Errorf("after removing user: %+v", p)
	}

	for _, bad := range [][]string{
		{"limit", "demo", "--idle-timeout", "5x"},
		{"limit", "demo", "--idle-timeout", "-1m"},
		{"limit", "demo", "--idle-mode", "sometimes"},
		{"limit", "demo", "--activity-sources", "user,bogus"},
		{"limit", "demo", "--activity-sources", "user", "--add-activity-source", "ssh"},
		{"limit", "demo", "--idle-mode", "disabled", "--add-activity-source", "ssh"},
		{"limit"},
	} {
		if code := te.run(bad...); code != ExitUsage || !strings.HasPrefix(te.errOut.String(), "Error: ") {
			t.Errorf("%v: exit %d stderr %q, want %d and one Error line", bad, code, te.errOut, ExitUsage)
		}
	}
	if code := te.run("limit", "demo", "--idle-timeout", "1.5h"); !strings.Contains(te.errOut.String(), "30s, 5m, 1h, 7d") {
		t.Errorf("bad duration: exit %d, stderr %q does not list the accepted forms", code, te.errOut)
	}
	if p := readPolicy(t, policyFile); p.Mode != "ssh" {
		t.Errorf("a refused change changed the policy: %+v", p)
	}
	if code := te.run("limit", "--host", "nohost", "--idle-timeout", "1m"); code != ExitError || !strings.Contains(te.errOut.String(), `no host named "nohost"`) {
		t.Errorf("unknown host: exit %d stderr %q", code, te.errOut)
	}
}

func TestCreateIdleFlags(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "c1", "command", "--provider", "fakecloud", "--idle-timeout", "30s", "--idle-mode", "run", "--", "sleep", "60")
	if len(te.cloud.requests) != 1 {
		t.Fatalf("requests = %d", len(te.cloud.requests))
	}
	want := core.IdleChange{Timeout: 30 * time.Second, TimeoutSet: true, Mode: "run"}
	if d := cmp.Diff(want, te.cloud.requests[0].Idle); d != "" {
		t.Errorf("new host's idle change (-want +got)\n%s", d)
	}
	// An existing host has its policy changed by create.
	te.mustRun("create", "c2", "command", "--provider", "fakecloud", "--host", "c1-host", "--activity-sources", "ssh,agent", "--idle-timeout", "1h", "--", "sleep", "60")
	var hostDir string
	for _, h := range te.cloud.hosts {
		hostDir = h.dir
	}
	if d := cmp.Diff(core.IdlePolicy{TimeoutSeconds: 3600, Mode: "custom", Sources: []string{"agent", "ssh"}}, readPolicy(t, filepath.Join(hostDir, "idle_policy"))); d != "" {
		t.Errorf("existing host's policy (-want +got)\n%s", d)
	}
	// On the local host the policy is recorded, with a warning.
	te.mustRun("create", "l1", "command", "--idle-timeout", "90", "--", "sleep", "60")
	if !strings.Contains(te.errOut.String(), "recorded but not enforced") {
		t.Errorf("no warning on local: %q", te.errOut)
	}
	if p := readPolicy(t, filepath.Join(te.env["MNGR_HOST_DIR"], "idle_policy")); p.TimeoutSeconds != 90 || p.Mode != "io" {
		t.Errorf("local policy: %+v", p)
	}
	if code := te.run("create", "l2", "command", "--idle-timeout", "soon", "--", "sleep", "60"); code != ExitUsage {
		t.Errorf("bad --idle-timeout: exit %d", code)
	}
	if s := agentState(t, te, "l2"); s != "" {
		t.Errorf("a create with a bad --idle-timeout made agent l2 (%s)", s)
	}
}

func TestCleanup(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "a1", "command", "--label", "team=a", "--", "sleep", "60")
	te.mustRun("create", "a2", "command", "--label", "team=a", "--", "sleep", "60")
	te.mustRun("create", "b1", "command", "--label", "team=b", "--", "sleep", "60")

	out := te.mustRun("cleanup", "--label", "team=a", "--dry-run")
	if !strings.Contains(out, "a1") || !strings.Contains(out, "a2") || strings.Contains(out, "b1") || !strings.Contains(out, "Would destroy 2 agent(s)") {
		t.Errorf("dry run: %q", out)
	}
	if out := te.mustRun("cleanup", "--older-than", "1h", "--dry-run"); out != "No agents match.\n" {
		t.Errorf("older-than 1h: %q", out)
	}
	// Not on a terminal and without -f: refused, nothing touched.
	if code := te.run("cleanup", "--label", "team=a"); code != ExitUsage || !strings.Contains(te.errOut.String(), "without -f") {
		t.Errorf("without -f: exit %d stderr %q", code, te.errOut)
	}
	for _, n := range []string{"a1", "a2", "b1"} {
		if agentState(t, te, n) == "" {
			t.Fatalf("agent %s gone after a refused cleanup", n)
		}
	}
	for _, bad := range [][]string{
		{"cleanup", "--older-than", "7days"},
		{"cleanup", "--idle-for", "1h30m"},
		{"cleanup", "--stop", "--destroy"},
		{"cleanup", "--label", "novalue"},
		{"cleanup", "--type", ""},
	} {
		if code := te.run(bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, ExitUsage)
		}
	}
	time.Sleep(2 * time.Second)
	var sel struct {
		Selected []struct {
			Name        string `json:"name"`
			IdleSeconds *int64 `json:"idle_seconds"`
		} `json:"selected"`
	}
	te.mustRun("cleanup", "--idle-for", "1s", "--type", "command", "--dry-run", "--format", "json")
	te.jsonOut(&sel)
	if len(sel.Selected) != 3 || sel.Selected[0].IdleSeconds == nil || *sel.Selected[0].IdleSeconds < 1 {
		t.Errorf("idle-for 1s: %+v", sel)
	}
	if out := te.mustRun("cleanup", "--idle-for", "1h", "--dry-run"); out != "No agents match.\n" {
		t.Errorf("idle-for 1h: %q", out)
	}

	out = te.mustRun("cleanup", "--stop", "--label", "team=a", "-f")
	if out != "Stopped agent: a1\nStopped agent: a2\n" {
		t.Errorf("stop: %q", out)
	}
	if s := agentState(t, te, "a1"); s != "STOPPED" {
		t.Errorf("a1 is %s after cleanup --stop", s)
	}
	var res struct {
		Action string   `json:"action"`
		Done   []string `json:"done"`
	}
	te.mustRun("cleanup", "--destroy", "--label", "team=a", "-f", "--format", "json")
	te.jsonOut(&res)
	if res.Action != "destroy" || !cmp.Equal(res.Done, []string{"a1", "a2"}) {
		t.Errorf("destroy: %+v", res)
	}
	if agentState(t, te, "a1") != "" || agentState(t, te, "b1") == "" {
		t.Error("cleanup --destroy destroyed the wrong agents")
	}
}

func TestDestroyWholeHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "l1", "command", "--", "sleep", "60")
	if code := te.run("destroy", "-f", "@localhost"); code != ExitUsage || !strings.Contains(te.errOut.String(), "this machine") {
		t.Errorf("destroy @localhost: exit %d stderr %q", code, te.errOut)
	}
	if agentState(t, te, "l1") == "" {
		t.Fatal("destroy @localhost removed its agent")
	}
	te.mustRun("create", "c1", "command", "--provider", "fakecloud", "--", "sleep", "60")
	te.mustRun("create", "c2", "command", "--provider", "fakecloud", "--host", "c1-host", "--", "sleep", "60")
	waitAgentState(t, te, "c2", "WAITING")
	if code := te.run("destroy", "@c1-host"); code != ExitUsage || !strings.Contains(te.errOut.String(), "-f") {
		t.Errorf("destroy a host with running agents without -f: exit %d stderr %q", code, te.errOut)
	}
	var res struct {
		Agents []string `json:"destroyed_agents"`
		Hosts  []string `json:"destroyed_hosts"`
	}
	te.mustRun("destroy", "-f", "@c1-host.fakecloud", "--format", "json")
	te.jsonOut(&res)
	if !cmp.Equal(res.Hosts, []string{"c1-host"}) || len(res.Agents) != 2 {
		t.Errorf("destroy @c1-host: %+v", res)
	}
	if len(te.cloud.destroyed) != 1 || len(te.cloud.hosts) != 0 {
		t.Errorf("cloud: destroyed %v, %d hosts left", te.cloud.destroyed, len(te.cloud.hosts))
	}
	if code := te.run("destroy", "@gone-host"); code != ExitError || !strings.Contains(te.errOut.String(), `no host named "gone-host"`) {
		t.Errorf("unknown host: exit %d stderr %q", code, te.errOut)
	}
}

func TestGCDestroysQuietHostsWithoutAgents(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	ctx := context.Background()
	mk := func(name string, quiet time.Duration) *core.Host {
		h, err := te.cloud.CreateHost(ctx, core.CreateHostRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(h.HostDir, "activity", "boot")
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-quiet)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return h
	}
	old := mk("old", 20*time.Minute)
	mk("fresh", time.Second)
	broken := mk("broken", 20*time.Minute)
	// A host whose host dir is gone: its activity cannot be read.
	if err := os.RemoveAll(broken.HostDir); err != nil {
		t.Fatal(err)
	}
	te.mustRun("create", "busy", "command", "--provider", "fakecloud", "--", "sleep", "60")

	var res struct {
		Machines []core.GCItem `json:"machines_destroyed"`
		Skipped  []skippedHost `json:"skipped_hosts"`
	}
	te.mustRun("gc", "--provider", "fakecloud", "--dry-run", "--format", "json")
	te.jsonOut(&res)
	if len(res.Machines) != 1 || res.Machines[0].ID != string(old.ID) || res.Machines[0].Done || !strings.Contains(res.Machines[0].Reason, "without agents") {
		t.Errorf("dry run: %+v", res.Machines)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Name != "broken" || !strings.Contains(res.Skipped[0].Reason, "activity could not be read") {
		t.Errorf("skipped hosts: %+v", res.Skipped)
	}
	te.mustRun("gc", "--provider", "fakecloud", "--dry-run")
	if !strings.Contains(te.errOut.String(), `Warning: host "broken" [fakecloud] skipped: its activity could not be read`) {
		t.Errorf("no warning for the host whose activity is unreadable: %q", te.errOut)
	}
	if len(te.cloud.destroyed) != 0 {
		t.Fatalf("dry run destroyed %v", te.cloud.destroyed)
	}
	// A longer minimum age keeps it.
	te.mustRun("gc", "--provider", "fakecloud", "-S", "providers.fakecloud.min_online_host_age_seconds=3600", "--format", "json")
	te.jsonOut(&res)
	if len(res.Machines) != 0 || len(te.cloud.destroyed) != 0 {
		t.Errorf("min age 1h: gc took %+v", res.Machines)
	}
	te.mustRun("gc", "--provider", "fakecloud", "-S", "default_min_online_host_age_seconds=900")
	if !cmp.Equal(te.cloud.destroyed, []core.HostID{old.ID}) {
		t.Errorf("destroyed %v, want only the quiet host %s", te.cloud.destroyed, old.ID)
	}
	if s := agentState(t, te, "busy"); s == "" {
		t.Error("gc removed the host of a live agent")
	}
}

func TestCreateDryRunShowsIdlePolicy(t *testing.T) {
	te, _ := newDryRunEnv(t)
	te.mustRun("create", "w1", "command", "--provider", "plancloud", "--idle-timeout", "1h", "--idle-mode", "run", "--dry-run", "--format", "json", "--", "true")
	var plan core.CreatePlan
	te.jsonOut(&plan)
	want := "idle policy (recorded, not enforced: this provider never stops its hosts on idle): stops after 1h without create, start, boot, process activity (mode run)"
	if !cmp.Equal(plan.Notes, []string{"note one", want}) {
		t.Errorf("notes = %q", plan.Notes)
	}
	if code := te.run("create", "w2", "command", "--provider", "plancloud", "--idle-mode", "never", "--dry-run", "--", "true"); code != ExitUsage {
		t.Errorf("bad --idle-mode with --dry-run: exit %d", code)
	}
}
