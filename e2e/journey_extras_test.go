//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// with returns the journey reporting to t (a subtest's), so a failure
// inside a subtest stops that subtest, not its parent.
func (j *journey) with(t *testing.T) *journey {
	c := *j
	c.t = t
	return &c
}

// listedAgent is one agent of `mngr list --format json`.
type listedAgent struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Host  struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"host"`
}

func (j *journey) listAgents() map[string]listedAgent {
	j.t.Helper()
	var l struct {
		Agents []listedAgent `json:"agents"`
	}
	if err := json.Unmarshal([]byte(j.must("list", "--format", "json")), &l); err != nil {
		j.t.Fatal(err)
	}
	out := map[string]listedAgent{}
	for _, a := range l.Agents {
		out[a.Name] = a
	}
	return out
}

// waitHostState polls `mngr list` until agent's host reports want. A poll
// that lands while the host goes down may report that host's listing
// cut off (exit 1, the agent still listed from its mirror): that poll
// counts as "not yet", and only the deadline fails the wait.
func (j *journey) waitHostState(agent, want string, limit time.Duration) {
	j.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var l struct {
			Agents []listedAgent `json:"agents"`
		}
		out, errOut, err := j.mngr("list", "--format", "json")
		if jerr := json.Unmarshal([]byte(out), &l); jerr != nil {
			j.t.Fatalf("list --format json: %v (%v)\n%s\n%s", jerr, err, out, errOut)
		}
		state := ""
		for _, a := range l.Agents {
			if a.Name == agent {
				state = a.Host.State
			}
		}
		if err == nil && state == want {
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("host of %s is %q after %s, want %s (last list: %v %s)", agent, state, limit, want, err, errOut)
		}
		time.Sleep(5 * time.Second)
	}
}

// vmBilling reports the power state and billing of the VM named after host.
func (j *journey) vmBilling(hostName string) (power string, billing bool) {
	j.t.Helper()
	vms, _ := j.azsimState()["vms"].([]any)
	for _, v := range vms {
		m, _ := v.(map[string]any)
		id, _ := m["id"].(string)
		if vmOfHost(id, hostName) {
			p, _ := m["power_state"].(string)
			b, _ := m["billing"].(bool)
			return p, b
		}
	}
	j.t.Fatalf("azsim has no VM for host %s", hostName)
	return "", false
}

// armRequests returns azsim's logged requests whose method is method and
// whose path contains part.
func (j *journey) armRequests(method, part string) []map[string]any {
	j.t.Helper()
	var out []map[string]any
	err := eachLoggedRequest(j.data, 0, func(line []byte) {
		var r map[string]any
		if json.Unmarshal(line, &r) != nil {
			return
		}
		if m, _ := r["method"].(string); m == method {
			if p, _ := r["path"].(string); strings.Contains(strings.ToLower(p), strings.ToLower(part)) {
				out = append(out, r)
			}
		}
	})
	if err != nil {
		j.t.Fatal(err)
	}
	return out
}

// TestAzureJourneyExtrasOnAzsim covers the rest of the host layer end to end
// on real simulated VMs: a Spot VM whose agent image is built from a local
// Dockerfile context, two agents on one host, idle self-deallocation through
// the shared identity and refused, and auto_shutdown_seconds leaving a VM
// stopped but billing.
func TestAzureJourneyExtrasOnAzsim(t *testing.T) {
	// Mostly waiting on simulated VMs (boot, cloud-init, docker load): it
	// runs beside the other VM journeys (its own azsim and addresses).
	t.Parallel()
	needDockerJourney(t, "boots real simulated VMs")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")

	t.Run("spot VM with an image built from a Dockerfile context, two agents on it", func(t *testing.T) {
		j := j.with(t)
		bctx := filepath.Join(j.dir, "agent-image")
		for p, c := range map[string]string{
			"Dockerfile":                  "FROM mngr-agent:latest\nRUN echo built-from-context > /etc/mngr-built\nCOPY . /opt/ctx\n",
			"hello.txt":                   "hello from the context\n",
			"node_modules/left-behind.js": "never uploaded\n",
		} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(bctx, p)), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(bctx, p), []byte(c), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		screen := j.mngrOnTerminal("create", "builder", "--provider", "azure", "--no-connect", "-b", "--azure-spot", "-b", bctx)
		t.Logf("terminal recording of mngr create:\n%s", screen)
		for _, want := range []string{"creating VM mngr-builder-host-", "waiting for cloud-init", "uploading the build context", "getting the agent image", "creating host on azure", "done (", "Created agent builder"} {
			if !strings.Contains(screen, want) {
				t.Errorf("terminal shows no %q", want)
			}
		}
		puts := j.armRequests(http.MethodPut, "/virtualMachines/")
		if len(puts) == 0 {
			t.Fatal("no VM PUT logged")
		}
		out := j.must("exec", "builder", "cat /etc/mngr-built /opt/ctx/hello.txt; test -e /opt/ctx/node_modules && echo uploaded-node_modules || echo excluded")
		for _, want := range []string{"built-from-context", "hello from the context", "excluded"} {
			if !strings.Contains(out, want) {
				t.Errorf("agent container misses %q:\n%s", want, out)
			}
		}
		host := j.listAgents()["builder"].Host.Name
		if host == "" {
			t.Fatal("builder has no host in list")
		}
		// The VM is Spot: azsim's model carries the priority.
		if pr := j.vmModelField(host, "priority"); pr != "Spot" {
			t.Errorf("VM priority = %q, want Spot", pr)
		}
		j.must("create", "second", "--provider", "azure", "--host", host, "--no-connect")
		agents := j.listAgents()
		if agents["second"].Host.ID != agents["builder"].Host.ID || !alive(agents["second"].State) {
			t.Fatalf("second agent: %+v, want it running on %s", agents["second"], host)
		}
		j.must("exec", "second", "echo mine > mine.txt")
		if out := j.must("exec", "builder", "pwd; ls"); strings.Contains(out, "mine.txt") {
			t.Errorf("agents share a work dir:\n%s", out)
		}
		j.must("destroy", "-f", "second")
		if a := j.listAgents(); !alive(a["builder"].State) {
			t.Errorf("destroying one agent disturbed the other: %+v", a["builder"])
		}
		j.must("destroy", "-f", "builder")
	})

	t.Run("idle self-deallocate through the shared identity", func(t *testing.T) {
		j := j.with(t)
		j.must("create", "idler", "--provider", "azure", "--no-connect", "-S", "providers.azure.idle_timeout_seconds=20")
		host := j.listAgents()["idler"].Host.Name
		j.waitHostState("idler", "STOPPED", 3*time.Minute)
		if p, billing := j.vmBilling(host); p != "deallocated" || billing {
			t.Errorf("idle VM: power %q billing %v, want deallocated and not billing", p, billing)
		}
		// The VM's IMDS token is mngr-vm-identity's, which prepare gave the
		// self-deallocate role on the group; create assigned no role.
		var shared string
		walkAzsimState(t, j.data, func(obj map[string]any) {
			if id, _ := obj["id"].(string); strings.HasSuffix(strings.ToLower(id), "/userassignedidentities/mngr-vm-identity") {
				if props, ok := obj["properties"].(map[string]any); ok {
					shared, _ = props["principalId"].(string)
				}
			}
		})
		var ok bool
		for _, r := range j.armRequests(http.MethodPost, "/deallocate") {
			if pr, _ := r["principal"].(string); shared != "" && pr == shared && r["status"] == float64(202) && vmOfHost(r["path"].(string), host) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no accepted deallocate call from the shared identity %q in requests.jsonl", shared)
		}
		j.must("destroy", "-f", "idler")
	})

	t.Run("idle self-deallocate refused keeps the VM running, is listed, and is retried", func(t *testing.T) {
		j := j.with(t)
		// The shared identity loses its role (removed, or not yet
		// effective): azsim's RBAC answers the VM's deallocate 403.
		assignment, body := j.selfDeallocateAssignment()
		if st, b := j.arm(http.MethodDelete, assignment, ""); st != http.StatusOK {
			t.Fatalf("remove the role assignment: %d %s", st, b)
		}
		restored := false
		restore := func() {
			if st, b := j.arm(http.MethodPut, assignment, body); st != http.StatusCreated && st != http.StatusOK {
				t.Fatalf("restore the role assignment: %d %s", st, b)
			}
			restored = true
		}
		defer func() {
			if !restored {
				restore()
			}
		}()
		j.must("create", "lonely", "--provider", "azure", "--no-connect", "-S", "providers.azure.idle_timeout_seconds=20")
		host := j.listAgents()["lonely"].Host.Name
		deadline := time.Now().Add(3 * time.Minute)
		for len(j.refusedDeallocates(host)) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the idle VM never asked to deallocate itself")
			}
			time.Sleep(5 * time.Second)
		}
		time.Sleep(10 * time.Second)
		if p, billing := j.vmBilling(host); p != "running" || !billing {
			t.Errorf("refused self-deallocate: power %q billing %v, want running (never powered off)", p, billing)
		}
		if out := j.must("exec", "lonely", "echo still-here"); !strings.Contains(out, "still-here") {
			t.Errorf("agent unreachable after a refused self-deallocate: %q", out)
		}
		// list marks the host, with the reason and the way out, in both formats.
		out := j.must("list")
		if !strings.Contains(out, "idle self-deallocate (last try ") || !strings.Contains(out, ") was refused: ") || !strings.Contains(out, "AuthorizationFailed") || !strings.Contains(out, "mngr stop") {
			t.Errorf("list does not mark the refused idle stop:\n%s", out)
		}
		var listed struct {
			Agents []struct {
				Name string `json:"name"`
				Host struct {
					StateHint string `json:"state_hint"`
				} `json:"host"`
			} `json:"agents"`
		}
		if err := json.Unmarshal([]byte(j.must("list", "--format", "json")), &listed); err != nil {
			t.Fatal(err)
		}
		if len(listed.Agents) != 1 || !strings.Contains(listed.Agents[0].Host.StateHint, "HTTP 403 AuthorizationFailed") {
			t.Errorf("list --format json: %+v, want a state_hint naming the refusal", listed.Agents)
		}
		// The role is back: a later try (30 s, then 60 s after the first)
		// deallocates the VM, and the record goes.
		restore()
		j.waitHostState("lonely", "STOPPED", 4*time.Minute)
		if p, billing := j.vmBilling(host); p != "deallocated" || billing {
			t.Errorf("after the retry: power %q billing %v, want deallocated", p, billing)
		}
		if n := len(j.refusedDeallocates(host)); n < 1 {
			t.Errorf("%d refused deallocates logged", n)
		}
		j.must("start", "lonely")
		if out := j.must("list"); strings.Contains(out, "refused") {
			t.Errorf("list still shows a refusal after a start:\n%s", out)
		}
		j.must("destroy", "-f", "lonely")
	})

	t.Run("auto_shutdown_seconds leaves the VM stopped and billing", func(t *testing.T) {
		j := j.with(t)
		j.must("create", "sleepy", "--provider", "azure", "--no-connect", "-S", "providers.azure.auto_shutdown_seconds=60")
		host := j.listAgents()["sleepy"].Host.Name
		j.waitHostState("sleepy", "STOPPED_BILLING", 4*time.Minute)
		if p, billing := j.vmBilling(host); p != "stopped" || !billing {
			t.Errorf("auto-shutdown VM: power %q billing %v, want stopped and billing", p, billing)
		}
		out := j.must("list")
		if !strings.Contains(out, "STOPPED_BILLING") || !strings.Contains(out, "mngr stop") {
			t.Errorf("list does not say the stopped VM still bills and how to stop that:\n%s", out)
		}
		j.must("stop", "sleepy")
		if p, billing := j.vmBilling(host); p != "deallocated" || billing {
			t.Errorf("after mngr stop: power %q billing %v, want deallocated", p, billing)
		}
		j.must("destroy", "-f", "sleepy")
	})

	j.must("gc")
	j.must("azure", "cleanup")
	j.checkNothingLeft()
}

// mngrOnTerminal runs mngr in a pane of a headless tmux server (a real
// terminal, so progress shows its spinner and step times) and returns the
// pane's whole history once mngr has exited.
func (j *journey) mngrOnTerminal(args ...string) string {
	j.t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(j.t, "tmux is not installed")
	}
	sock := filepath.Join(j.dir, "rec.sock")
	status := filepath.Join(j.dir, "rec.status")
	_ = os.Remove(status)
	var env strings.Builder
	for _, kv := range j.env {
		env.WriteString(shellQuote(kv) + " ")
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	script := "cd " + shellQuote(j.dir) + " && env -i TERM=xterm-256color " + env.String() + shellQuote(filepath.Join(binDir, "mngr")) + " " +
		strings.Join(quoted, " ") + "; echo $? > " + shellQuote(status) + "; sleep 600"
	tmux := func(a ...string) ([]byte, error) {
		return exec.CommandContext(context.Background(), "tmux", append([]string{"-S", sock}, a...)...).CombinedOutput()
	}
	if out, err := tmux("new-session", "-d", "-x", "160", "-y", "50", "sh", "-c", script); err != nil {
		j.t.Fatalf("tmux: %v: %s", err, out)
	}
	defer func() { _, _ = tmux("kill-server") }()
	deadline := time.Now().Add(8 * time.Minute)
	for {
		if b, err := os.ReadFile(status); err == nil && len(bytes.TrimSpace(b)) > 0 {
			screen, _ := tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-")
			if code := strings.TrimSpace(string(b)); code != "0" {
				j.t.Fatalf("mngr %s on a terminal exited %s:\n%s", strings.Join(args, " "), code, screen)
			}
			return strings.TrimRight(string(screen), "\n")
		}
		if time.Now().After(deadline) {
			screen, _ := tmux("capture-pane", "-p", "-J", "-S", "-")
			j.t.Fatalf("mngr %s on a terminal did not finish:\n%s", strings.Join(args, " "), screen)
		}
		time.Sleep(time.Second)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// vmOfHost is true when id is the VM mngr made for host (named
// mngr-<host>-<8 hex of the host id>).
func vmOfHost(id, host string) bool {
	return strings.Contains(strings.ToLower(id), "/virtualmachines/mngr-"+strings.ToLower(host)+"-")
}

// alive is true for the states of an agent whose process runs.
func alive(state string) bool { return state == "RUNNING" || state == "WAITING" }

// selfDeallocateAssignment finds the role assignment prepare made for the
// shared VM identity: its ARM path, and the PUT body that makes it again.
func (j *journey) selfDeallocateAssignment() (path, body string) {
	j.t.Helper()
	var principal string
	walkAzsimState(j.t, j.data, func(obj map[string]any) {
		if id, _ := obj["id"].(string); strings.HasSuffix(strings.ToLower(id), "/userassignedidentities/mngr-vm-identity") {
			if props, ok := obj["properties"].(map[string]any); ok {
				principal, _ = props["principalId"].(string)
			}
		}
	})
	walkAzsimState(j.t, j.data, func(obj map[string]any) {
		id, _ := obj["id"].(string)
		props, ok := obj["properties"].(map[string]any)
		if !ok || principal == "" || !strings.Contains(strings.ToLower(id), "/providers/microsoft.authorization/roleassignments/") || props["principalId"] != principal {
			return
		}
		b, err := json.Marshal(map[string]any{"properties": map[string]any{
			"roleDefinitionId": props["roleDefinitionId"], "principalId": principal, "principalType": "ServicePrincipal"}})
		if err != nil {
			j.t.Fatal(err)
		}
		path, body = id, string(b)
	})
	if path == "" {
		j.t.Fatalf("no role assignment for mngr-vm-identity (principal %q) in azsim's state", principal)
	}
	return path, body
}

// arm calls azsim's Resource Manager as the journey's service principal.
func (j *journey) arm(method, path, body string) (int, []byte) {
	j.t.Helper()
	ep := j.endpoint()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(ep.ARM, "/")+path+"?api-version=2022-04-01", strings.NewReader(body))
	if err != nil {
		j.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+azsimToken(j.t.(*testing.T), j))
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: caConfig(j.t, filepath.Join(j.data, "ca.pem"))}}
	resp, err := client.Do(req)
	if err != nil {
		j.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// refusedDeallocates are the VM's own deallocate calls azsim refused.
func (j *journey) refusedDeallocates(host string) []map[string]any {
	var out []map[string]any
	for _, r := range j.armRequests(http.MethodPost, "/deallocate") {
		if r["status"] == float64(403) && vmOfHost(r["path"].(string), host) {
			out = append(out, r)
		}
	}
	return out
}

// vmModelField reads one property of the VM named after host from azsim's
// state file (the stored ARM model).
func (j *journey) vmModelField(host, field string) string {
	j.t.Helper()
	var found string
	walkAzsimState(j.t, j.data, func(obj map[string]any) {
		if id, _ := obj["id"].(string); vmOfHost(id, host) {
			if props, ok := obj["properties"].(map[string]any); ok {
				if s, ok := props[field].(string); ok {
					found = s
				}
			}
		}
	})
	return found
}
