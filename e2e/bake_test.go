//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// TestBakedImageOnAzsim bakes an image with Claude Code and Codex in it on
// azsim's docker backend (the pinned CLIs from npm's registry, through azsim's npm
// cache seeded from this machine's npm cache and offline, into the agent
// image of Debian's Azure image plus Docker), creates two agents from it, a
// claude agent that starts the baked CLI without installing anything (and
// finds codex beside it) and a command agent; runs a short journey on one, and checks that `mngr azure
// cleanup --force` leaves nothing: no ARM resource, no container, no
// volume, no captured image. In the same run it times a create from the
// stock image and one from the baked image, each from the PUT of its first
// resource to the agent ready (docs/BENCHMARKS.md).
func TestBakedImageOnAzsim(t *testing.T) {
	t.Parallel()
	needDockerJourney(t, "the bake boots real simulated VMs")
	testenv.NeedTools(t, "npm")
	npmCache, err := exec.CommandContext(t.Context(), "npm", "config", "get", "cache").Output()
	if err != nil {
		t.Fatalf("npm config get cache: %v", err)
	}
	seed := filepath.Join(strings.TrimSpace(string(npmCache)), "_cacache")
	if _, err := os.Stat(seed); err != nil {
		testenv.Missing(t, "npm's cache %s is missing (scripts/setup.sh fills it when it installs the pinned CLIs): %v", seed, err)
	}
	aptProxy, err := docker.LocalAPTProxy(t.Context(), os.Getenv)
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	_, aptPort, _ := net.SplitHostPort(aptProxy)
	j := startAzsimJourney(t, "docker", docker.EnvNPMCache+"="+docker.LocalNPMCache(os.Getenv), docker.EnvNPMSeed+"="+seed, docker.EnvNPMOffline+"=1")
	j.must("azure", "prepare")

	stock := j.timedCreate("stock-agent", "-b", "--azure-image=stock")
	j.must("destroy", "-f", "stock-agent")

	// In the builder, the installer reaches npm's registry and Debian's
	// archive only through azsim's caches on the VM's loopback.
	bake := []string{"azure", "bake", "--agent-type", "claude,codex",
		"--env", "npm_config_registry=http://127.0.0.1:" + strconv.Itoa(docker.GuestNPMRegistryPort) + "/",
		"--env", "http_proxy=http://127.0.0.1:" + aptPort + "/", "--env", "no_proxy=127.0.0.1,localhost"}
	start := time.Now()
	out, errOut, err := j.mngr(bake...)
	bakeTime := time.Since(start)
	if err != nil || !strings.Contains(out, "Baked image mngr-agent-") {
		t.Fatalf("bake: %v\n%s\n%s", err, out, errOut)
	}
	cliStep := stepSeconds(t, errOut, "installing @anthropic-ai/claude-code@"+core.ClaudeCodeVersion+" and @openai/codex@"+core.CodexVersion+" into the agent image mngr-agent:latest").Seconds()
	if out := j.must(bake...); !strings.Contains(out, "exists already") {
		t.Fatalf("second bake did not find the image: %s", out)
	}
	var listed []struct {
		Name      string   `json:"name"`
		Current   bool     `json:"current"`
		State     string   `json:"state"`
		AgentCLIs []string `json:"agent_clis"`
	}
	if err := json.Unmarshal([]byte(j.must("azure", "bake", "--list", "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || !listed[0].Current || listed[0].State != "Succeeded" ||
		strings.Join(listed[0].AgentCLIs, ",") != "claude@"+core.ClaudeCodeVersion+",codex@"+core.CodexVersion {
		t.Fatalf("bake --list: %+v", listed)
	}
	// No builder remains.
	if n := j.countVMs(); n != 0 {
		t.Fatalf("%d VM(s) after the bake, want none (the builder is deleted)", n)
	}

	plan := j.must("create", "planned", "--provider", "azure", "-b", "--azure-image=baked", "--dry-run")
	if !strings.Contains(plan, "image: baked "+listed[0].Name) || !strings.Contains(plan, "agent CLIs claude@"+core.ClaudeCodeVersion+",codex@"+core.CodexVersion) ||
		!strings.Contains(plan, "skips what the baked image holds (base-packages, docker)") || strings.Contains(plan, "cloudinit_base_packages") {
		t.Fatalf("dry run does not say which image and what is skipped:\n%s", plan)
	}
	if plan := j.must("create", "planned", "codex", "--provider", "azure", "-b", "--azure-image=baked", "--dry-run"); strings.Contains(plan, "the baked image has no codex") {
		t.Fatalf("dry run of a codex agent says its baked CLI is missing:\n%s", plan)
	}

	baked := j.timedCreate("baked-a", "-b", "--azure-image=baked")
	// A claude agent: the baked CLI answers the version check, so nothing
	// is installed; claude starts (its API is a dead port here: it gets to
	// its prompt without it).
	const key = "sk-ant-api03-mngrbake0123456789abcdefghijklmnopqrstuvwxyz"
	j.env = append(j.env, "ANTHROPIC_API_KEY="+key)
	out, errOut, err = j.mngr("-v", "create", "baked-b", "claude", "--provider", "azure", "-b", "--azure-image=baked", "--transfer", "none", "--no-connect",
		"--pass-env", "ANTHROPIC_API_KEY", "--env", "ANTHROPIC_BASE_URL=http://127.0.0.1:9", "--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	if err != nil {
		t.Fatalf("create a claude agent on the baked image: %v\n%s\n%s", err, out, errOut)
	}
	if strings.Contains(errOut, "installing claude") {
		t.Errorf("the claude agent on the baked image installed its CLI:\n%s", errOut)
	}
	if out := j.must("exec", "baked-b", "command -v claude; claude --version; ls /mngr-vol/host_dir/logs/install-claude.log 2>&1 || true"); !strings.Contains(out, "/usr/local/bin/claude") ||
		!strings.Contains(out, core.ClaudeCodeVersion) || !strings.Contains(out, "No such file") {
		t.Errorf("claude in the baked image: %q", out)
	}
	if out := j.must("exec", "baked-b", "command -v codex; codex --version"); !strings.Contains(out, "/usr/local/bin/codex") || !strings.Contains(out, "codex-cli "+core.CodexVersion) {
		t.Errorf("codex in the baked image: %q", out)
	}
	if out := j.must("list"); !strings.Contains(out, "baked-a") || !strings.Contains(out, "baked-b") {
		t.Fatalf("list:\n%s", out)
	}
	// The journey on one of them.
	if out := j.must("exec", "baked-a", "echo hello"); !strings.Contains(out, "hello") {
		t.Fatalf("exec: %q", out)
	}
	j.must("message", "baked-a", "-m", "hello from the test")
	j.must("exec", "baked-a", "echo kept > survives.txt")
	j.must("stop", "baked-a")
	j.must("start", "baked-a")
	if out := j.must("exec", "baked-a", "cat survives.txt"); !strings.Contains(out, "kept") {
		t.Fatalf("file did not survive stop/start: %q", out)
	}

	ratio := baked.Seconds() / stock.Seconds()
	t.Logf("BENCH bake (with claude and codex): %.1fs, of which the CLI install %.1fs; create from the first PUT to the agent ready: stock %.1fs, baked %.1fs (%.2fx)",
		bakeTime.Seconds(), cliStep, stock.Seconds(), baked.Seconds(), ratio)
	if os.Getenv("MNGR_BAKE_RATIO_STRICT") == "1" && ratio > 0.4 {
		t.Errorf("baked create took %.2fx the stock create, want at most 0.4x", ratio)
	}

	j.must("destroy", "-f", "baked-a", "baked-b")
	if _, errOut, err := j.mngr("azure", "cleanup"); err == nil || !strings.Contains(errOut, "baked image") {
		t.Fatalf("cleanup with a baked image: err=%v stderr=%s", err, errOut)
	}
	j.must("azure", "cleanup", "--force")
	j.checkNothingLeft()
	j.checkNoDockerLeft()
}

// TestBakeInterruptedOnAzsim interrupts a bake twice: while its builder
// VM is being created, and once the builder runs (billing) and is being
// set up. Each time, the builder, its NIC, IP and disk are gone when mngr
// exits.
func TestBakeInterruptedOnAzsim(t *testing.T) {
	t.Parallel()
	needDockerJourney(t, "the bake boots a real simulated VM")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")
	for _, point := range []struct {
		name   string
		now    func(stderr string) bool
		during func()
	}{
		{"the builder's create", func(string) bool { return j.countVMs() > 0 }, nil},
		// The builder runs (it bills) and mngr waits for its cloud-init;
		// list names it as a bake's builder, not as an orphan host.
		{"the builder's setup", func(stderr string) bool { return strings.Contains(stderr, "running the setup steps") }, func() {
			if out := j.must("list"); !strings.Contains(out, "image builder of mngr-agent-") || strings.Contains(out, "Orphan host") {
				t.Errorf("list during a bake does not name the builder:\n%s", out)
			}
			if out := j.must("list", "--hosts"); !strings.Contains(out, "(image builder)") || strings.Contains(out, "(orphan)") {
				t.Errorf("list --hosts during a bake does not name the builder:\n%s", out)
			}
		}},
	} {
		j.interruptBake(point.name, point.now, point.during)
	}
	j.must("azure", "cleanup", "--force")
	j.checkNothingLeft()
	j.checkNoDockerLeft()
}

// interruptBake runs `mngr azure bake`, runs during (when not nil) and
// sends SIGINT once now (given the bake's stderr so far) holds, and checks
// that no VM, disk, NIC or public IP remains.
func (j *journey) interruptBake(point string, now func(stderr string) bool, during func()) {
	t := j.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "mngr"), "azure", "bake")
	cmd.Env, cmd.Dir = j.env, j.dir
	errFile := filepath.Join(j.dir, "bake-interrupted.err")
	f, err := os.Create(errFile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stderr := func() string { b, _ := os.ReadFile(errFile); return string(b) }
	deadline := time.Now().Add(4 * time.Minute)
	for !now(stderr()) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("interrupt at %s: the point never came; stderr:\n%s", point, stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if during != nil {
		during()
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	t.Logf("bake interrupted at %s: %v\n%s", point, err, stderr())
	if err == nil {
		t.Fatalf("the bake interrupted at %s succeeded", point)
	}
	counts, _ := j.azsimState()["resources"].(map[string]any)
	for _, typ := range []string{"Microsoft.Compute/virtualMachines", "Microsoft.Compute/disks", "Microsoft.Network/networkInterfaces", "Microsoft.Network/publicIPAddresses"} {
		for k, v := range counts {
			if n, _ := v.(float64); strings.EqualFold(k, typ) && n > 0 {
				t.Errorf("the bake interrupted at %s left %v %s", point, v, k)
			}
		}
	}
	if cs := containersOf(t, j.data); len(cs) > 0 {
		t.Errorf("the bake interrupted at %s left containers %v", point, cs)
	}
}

// timedCreate creates an agent and returns the time from azsim's log of
// its first PUT to the create's end (the agent ready).
func (j *journey) timedCreate(name string, args ...string) time.Duration {
	j.t.Helper()
	offset := logSize(j.data)
	j.must(append([]string{"create", name, "--provider", "azure"}, args...)...)
	end := time.Now()
	var first time.Time
	err := eachLoggedRequest(j.data, offset, func(line []byte) {
		var l struct {
			Time   time.Time `json:"time"`
			Method string    `json:"method"`
		}
		if json.Unmarshal(line, &l) == nil && l.Method == "PUT" && first.IsZero() {
			first = l.Time
		}
	})
	if err != nil || first.IsZero() {
		j.t.Fatalf("no PUT logged for create %s: %v", name, err)
	}
	return end.Sub(first)
}

// checkNoDockerLeft reports the volumes and images azsim's docker backend
// made for this data dir that remain.
func (j *journey) checkNoDockerLeft() {
	j.t.Helper()
	for _, what := range [][]string{{"volume", "ls", "-q"}, {"image", "ls", "-q"}} {
		out, err := exec.CommandContext(context.Background(), "docker", append(what, "--filter", "label=dev.mngr.azsim.data-dir="+j.data)...).Output()
		if err != nil {
			j.t.Fatalf("docker %s: %v", what[0], err)
		}
		if left := strings.Fields(string(out)); len(left) > 0 {
			j.t.Errorf("%ss left behind: %v", what[0], left)
		}
	}
}
