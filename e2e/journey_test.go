//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// journeyImages finds the images scripts/images.sh built, from the
// environment or its cache's images.env.
func journeyImages(t testing.TB) []string {
	t.Helper()
	if os.Getenv("MNGR_AZSIM_VM_IMAGE") != "" && os.Getenv("MNGR_AGENT_IMAGE_TAR") != "" {
		return []string{"MNGR_AZSIM_VM_IMAGE=" + os.Getenv("MNGR_AZSIM_VM_IMAGE"), "MNGR_AGENT_IMAGE_TAR=" + os.Getenv("MNGR_AGENT_IMAGE_TAR")}
	}
	// The one rule for the cache, shared with azsim and scripts/lib.sh.
	cache := docker.ImagesCacheDir(os.Getenv)
	b, err := os.ReadFile(filepath.Join(cache, "images.env"))
	if err != nil {
		testenv.Missing(t, "no simulated-VM images (run scripts/setup.sh): %v", err)
	}
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MNGR_") {
			env = append(env, strings.TrimSpace(line))
		}
	}
	return env
}

// journey runs mngr commands against one azsim with real machines.
type journey struct {
	t    testing.TB
	env  []string
	dir  string
	data string
	// calls and writes, when set, record the ARM requests of each command
	// line, and how many of them were writes (PUT, POST, DELETE).
	calls, writes map[string]int
}

func (j *journey) mngr(args ...string) (string, string, error) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "mngr"), args...)
	cmd.Env, cmd.Dir = j.env, j.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	before, offset := j.armCount(), logSize(j.data)
	start := time.Now()
	err := cmd.Run()
	calls, writes := j.armCount()-before, armWrites(j.t, j.data, offset)
	j.t.Logf("$ mngr %s (%.1fs, %d ARM requests, %d of them writes)\n%s%s", strings.Join(args, " "), time.Since(start).Seconds(), calls, writes, out.String(), errb.String())
	if j.calls != nil && len(args) > 0 {
		j.calls[strings.Join(args, " ")] = calls
		j.writes[strings.Join(args, " ")] = writes
	}
	return out.String(), errb.String(), err
}

// armCount is the number of requests azsim has logged so far (including
// any a simulated VM made itself).
func (j *journey) armCount() int {
	b, err := os.ReadFile(filepath.Join(j.data, "requests.jsonl"))
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

func (j *journey) must(args ...string) string {
	j.t.Helper()
	out, _, err := j.mngr(args...)
	if err != nil {
		j.t.Fatalf("mngr %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// azsimState reads azsim's admin state report.
func (j *journey) azsimState() map[string]any {
	j.t.Helper()
	var st map[string]any
	if err := json.Unmarshal(j.admin(http.MethodGet, "/state", ""), &st); err != nil {
		j.t.Fatal(err)
	}
	return st
}

// countVMs counts the VMs azsim holds.
func (j *journey) countVMs() int {
	j.t.Helper()
	vms, _ := j.azsimState()["vms"].([]any)
	return len(vms)
}

// admin calls azsim's admin API and returns the body.
func (j *journey) admin(method, path, body string) []byte {
	j.t.Helper()
	ep := j.endpoint()
	req, _ := http.NewRequestWithContext(context.Background(), method, ep.Admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ep.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: caConfig(j.t, filepath.Join(j.data, "ca.pem"))}}
	resp, err := client.Do(req)
	if err != nil {
		j.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode >= 300 {
		j.t.Fatalf("azsim admin %s %s: %d %v %s", method, path, resp.StatusCode, err, b)
	}
	return b
}

// azsimEndpoint is azsim's endpoint.json: where its admin API and token
// endpoint are, and the service principal that may call them.
type azsimEndpoint struct {
	ARM          string `json:"arm"`
	Admin        string `json:"admin"`
	Authority    string `json:"authority"`
	Audience     string `json:"audience"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// endpoint reads the journey's azsim endpoint.json.
func (j *journey) endpoint() azsimEndpoint {
	j.t.Helper()
	var ep azsimEndpoint
	b, err := os.ReadFile(filepath.Join(j.data, "endpoint.json"))
	if err != nil {
		j.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ep); err != nil {
		j.t.Fatal(err)
	}
	return ep
}

// envValue is the value of key in the journey's mngr environment ("" when
// unset); as for exec, the last of repeated keys counts.
func (j *journey) envValue(key string) string {
	v := ""
	for _, kv := range j.env {
		if s, ok := strings.CutPrefix(kv, key+"="); ok {
			v = s
		}
	}
	return v
}

// checkNothingLeft reports every ARM resource azsim still holds and every
// container of a simulated VM still there.
func (j *journey) checkNothingLeft() {
	j.t.Helper()
	st := j.azsimState()
	if counts, _ := st["resources"].(map[string]any); len(counts) > 0 {
		for k, v := range counts {
			if n, _ := v.(float64); n > 0 {
				j.t.Errorf("azsim still holds %v %s", v, k)
			}
		}
	}
	if cs := containersOf(j.t, j.data); len(cs) > 0 {
		j.t.Errorf("containers left behind: %v", cs)
	}
}

// walkAzsimState calls visit with every JSON object in azsim's state file
// under data (the stored ARM models), depth first.
func walkAzsimState(t testing.TB, data string, visit func(obj map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			visit(x)
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(st)
}

// eachLoggedRequest calls each with every line of azsim's request log
// (requests.jsonl under data) from byte offset from on; a log shorter than
// from has none. Lines over 1 MiB end the scan.
func eachLoggedRequest(data string, from int64, each func(line []byte)) error {
	b, err := os.ReadFile(filepath.Join(data, "requests.jsonl"))
	if err != nil {
		return err
	}
	if int64(len(b)) < from {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b[from:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		each(sc.Bytes())
	}
	return nil
}

func containersOf(t testing.TB, data string) []string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "docker", "ps", "-aq", "--filter", "label=dev.mngr.azsim.data-dir="+data).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// needDockerJourney skips t where it cannot boot simulated VMs: with
// -short (what says what the test boots, for the skip message) and where
// docker does not answer.
func needDockerJourney(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s; skipped with -short", what)
	}
	if err := exec.CommandContext(context.Background(), "docker", "info").Run(); err != nil {
		testenv.Missing(t, "docker is not available")
	}
}

// startMachinelessJourney is startAzsimJourney with VMs that are ARM
// records only (--vm-backend none) and an mngr that skips host setup
// (MNGR_VPS_SKIP_HOST_SETUP=1): a create gets as far as its VM, then finds
// no machine to set up and rolls back.
func startMachinelessJourney(t *testing.T) *journey {
	t.Helper()
	j := startAzsimJourney(t, "none")
	j.env = append(j.env, "MNGR_VPS_SKIP_HOST_SETUP=1")
	return j
}

// startAzsimJourney serves azsim with the given VM backend ("none" or
// "docker") in a temp dir until the test ends, and returns a journey whose
// mngr runs with a fresh home configured for it: the [providers.azure]
// block of `azsim env`, a "sleeper" agent type as the create default, and
// the service-principal exports. With "docker", containers left behind are
// removed (and the test reports them if it checks containersOf). azsimEnv
// are NAME=VALUE settings for azsim itself (its npm cache, say).
func startAzsimJourney(t testing.TB, backend string, azsimEnv ...string) *journey {
	t.Helper()
	var images []string
	if backend == "docker" {
		images = journeyImages(t)
		// Every VM's apt goes through this machine's package cache.
		proxy, err := docker.LocalAPTProxy(context.Background(), os.Getenv)
		if err != nil {
			testenv.Missing(t, "%v", err)
		}
		images = append(images, docker.EnvAPTProxy+"="+proxy)
	}
	images = append(images, azsimEnv...)
	work := t.TempDir()
	azsimBin := filepath.Join(binDir, "azsim")
	if _, err := os.Stat(azsimBin); err != nil {
		build := exec.CommandContext(context.Background(), "go", "build", "-o", azsimBin, "github.com/mngr-azure/mngr/cmd/azsim")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build azsim: %v\n%s", err, out)
		}
	}
	data := filepath.Join(work, "azsim")
	srv := exec.CommandContext(context.Background(), azsimBin, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--vm-backend", backend)
	srv.Env = append(os.Environ(), images...)
	logf, err := os.Create(filepath.Join(work, "azsim.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop := exec.CommandContext(context.Background(), azsimBin, "stop", "--data-dir", data)
		_ = stop.Run()
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = srv.Process.Kill()
		}
		if backend == "docker" {
			for _, c := range containersOf(t, data) {
				_ = exec.CommandContext(context.Background(), "docker", "rm", "-f", c).Run()
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(work, "azsim.log"))
			t.Logf("azsim log:\n%s", b)
		}
	})
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(filepath.Join(data, "endpoint.json")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	envOut, err := exec.CommandContext(context.Background(), azsimBin, "env", "--data-dir", data).Output()
	if err != nil {
		t.Fatalf("azsim env: %v", err)
	}
	home := filepath.Join(work, "home")
	j := &journey{t: t, dir: work, data: data}
	var settings strings.Builder
	inSettings := false
	sc := bufio.NewScanner(bytes.NewReader(envOut))
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			j.env = append(j.env, k+"="+strings.Trim(v, "'"))
			continue
		}
		if strings.HasPrefix(line, "[providers.") {
			inSettings = true
		}
		if inSettings {
			settings.WriteString(line + "\n")
		}
	}
	settings.WriteString(`
[agent_types.sleeper]
command = "sleep 100000"

[commands.create]
type = "sleeper"
# The journeys run in a temp dir that holds azsim's data: they run agents
# in place unless they test the transfer (useDefaultTransfer).
transfer = "none"
`)
	if err := os.MkdirAll(filepath.Join(home, ".mngr"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".mngr", "settings.toml"), []byte(settings.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("mngrj%d-", time.Now().UnixNano()%100000)
	j.env = append(j.env, "HOME="+home, "MNGR_HOST_DIR="+filepath.Join(home, ".mngr"), "MNGR_PREFIX="+prefix,
		"PATH="+os.Getenv("PATH"), "AZURE_CONFIG_DIR="+filepath.Join(home, ".azure"))

	return j
}

// useDefaultTransfer drops the journey's transfer = "none" default, so
// create transfers the project as it does for users.
func (j *journey) useDefaultTransfer() {
	j.t.Helper()
	p := filepath.Join(j.envValue("HOME"), ".mngr", "settings.toml")
	b, err := os.ReadFile(p)
	if err != nil {
		j.t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte("transfer = \"none\"\n"), nil), 0o600); err != nil {
		j.t.Fatal(err)
	}
}

// TestAzureJourneyOnAzsim runs the usage section of the Azure provider's
// manual against azsim whose VMs are real machines, then checks that nothing
// is left: no ARM resources and no containers.
func TestAzureJourneyOnAzsim(t *testing.T) {
	// Mostly waiting on simulated VMs (boot, cloud-init, docker load): it
	// runs beside the other VM journeys (its own azsim and addresses).
	t.Parallel()
	needDockerJourney(t, "the journey boots real simulated VMs")
	j := startAzsimJourney(t, "docker")
	j.calls, j.writes = map[string]int{}, map[string]int{}
	j.must("azure", "prepare")
	// A second prepare changes nothing and says so.
	var again struct {
		Resources []struct {
			Kind    string `json:"kind"`
			Created bool   `json:"created"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(j.must("azure", "prepare", "--format", "json")), &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Resources) == 0 {
		t.Fatal("second prepare reported no resources")
	}
	for _, r := range again.Resources {
		if r.Created {
			t.Errorf("second prepare created %s again", r.Kind)
		}
	}

	// A size with no capacity: the create fails with guidance and leaves no VM.
	j.admin(http.MethodPost, "/faults", `{"method":"PUT","path":"/virtualMachines/","count":1,"status":409,"code":"SkuNotAvailable","message":"The requested size for resource is currently not available in location 'westus'."}`)
	if _, errOut, err := j.mngr("create", "unlucky", "--provider", "azure"); err == nil || !strings.Contains(errOut, "SkuNotAvailable") && !strings.Contains(errOut, "capacity") {
		t.Fatalf("create on a size without capacity: err=%v stderr=%s", err, errOut)
	}
	if vms := j.countVMs(); vms != 0 {
		t.Fatalf("failed create left %d VM(s)", vms)
	}

	j.must("create", "my-agent", "--provider", "azure")
	// cleanup refuses while an mngr VM exists.
	if _, errOut, err := j.mngr("azure", "cleanup"); err == nil || !strings.Contains(errOut, "mngr destroy") {
		t.Fatalf("cleanup with a VM: err=%v stderr=%s", err, errOut)
	}
	if out := j.must("list"); !strings.Contains(out, "my-agent") || !strings.Contains(out, "RUNNING") {
		t.Fatalf("list after create:\n%s", out)
	}
	if out := j.must("exec", "my-agent", "echo hello"); !strings.Contains(out, "hello") {
		t.Fatalf("exec: %q", out)
	}
	j.must("exec", "my-agent", "echo kept > survives.txt")
	// Plain OpenSSH reaches the agent's container through ssh-config's entry
	// (pinned known_hosts, the container key), as VS Code or rsync would.
	if _, err := exec.LookPath("ssh"); err == nil {
		sshCfg := filepath.Join(j.dir, "ssh_config")
		j.must("ssh-config", "my-agent", "--output", sshCfg)
		ssh := exec.CommandContext(context.Background(), "ssh", "-F", sshCfg, "-o", "BatchMode=yes", "my-agent.mngr", "echo ok; cat /mngr/work/*/survives.txt")
		ssh.Dir = j.dir
		out, err := ssh.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ok\nkept") {
			t.Fatalf("ssh my-agent.mngr: %v\n%s", err, out)
		}
	}
	j.must("stop", "my-agent")
	var listed struct {
		Agents []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Host  struct {
				State string `json:"state"`
			} `json:"host"`
		} `json:"agents"`
	}
	if err := json.Unmarshal([]byte(j.must("list", "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Agents) != 1 || listed.Agents[0].Name != "my-agent" || listed.Agents[0].State != "STOPPED" || listed.Agents[0].Host.State != "STOPPED" {
		t.Fatalf("list while deallocated: %+v", listed.Agents)
	}
	j.must("start", "my-agent")
	if out := j.must("exec", "my-agent", "cat survives.txt"); !strings.Contains(out, "kept") {
		t.Fatalf("file did not survive stop/start: %q", out)
	}
	j.must("destroy", "-f", "my-agent")
	// The create that hit SkuNotAvailable left its NIC (reserved by the
	// failed VM create, as Azure does) and public IP. gc leaves them while
	// they are younger than 240 s by ARM's clock; once azsim's clock has
	// moved past that, the first gc removes both, and cleanup can go on.
	// (On a slow machine the journey itself may outlast the 240 s, and the
	// first gc already removes them.)
	// The failed create's process has ended, so the first gc may already
	// take them; a public IP still held by the NIC it just deleted remains
	// for the next run (exit 5, host resources remain).
	gcOut, _, err := j.mngr("gc")
	if ee := (*exec.ExitError)(nil); err != nil && (!errors.As(err, &ee) || ee.ExitCode() != 5) {
		t.Fatalf("first gc: %v", err)
	}
	j.admin(http.MethodPost, "/clock", `{"advance_seconds": 241}`)
	gcOut += j.must("gc", "--format", "json")
	if !strings.Contains(gcOut, "network-interface") || !strings.Contains(gcOut, "public-ip") {
		t.Fatalf("gc did not remove the failed create's NIC and public IP:\n%s", gcOut)
	}
	j.must("azure", "cleanup")
	j.checkNothingLeft()
	// ARM requests per command (docs/BENCHMARKS.md). A listing is a
	// constant three paged lists, whatever the number of VMs.
	for _, c := range []string{"azure prepare", "create my-agent --provider azure", "list", "exec my-agent echo hello", "stop my-agent",
		"start my-agent", "destroy -f my-agent", "gc", "azure cleanup"} {
		t.Logf("ARM requests: %-34s %d (%d writes)", "mngr "+c, j.calls[c], j.writes[c])
	}
	if n := j.calls["list"]; n > 3 {
		t.Errorf("mngr list made %d ARM requests, want at most 3", n)
	}
}
