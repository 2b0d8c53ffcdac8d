//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBakedImageOnAzsim bakes an image on azsim's docker backend, creates
// two agents from it, runs a short journey on one, and checks that
// `mngr azure cleanup --force` leaves nothing: no ARM resource, no
// container, no volume, no captured image. In the same run it times a
// create from the stock image and one from the baked image, each from the
// PUT of its first resource to the agent ready (docs/BENCHMARKS.md).
func TestBakedImageOnAzsim(t *testing.T) {
	t.Parallel()
	needDockerJourney(t, "the bake boots real simulated VMs")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")

	stock := j.timedCreate("stock-agent", "-b", "--azure-image=stock")
	j.must("destroy", "-f", "stock-agent")

	start := time.Now()
	out := j.must("azure", "bake")
	bakeTime := time.Since(start)
	if !strings.Contains(out, "Baked image mngr-agent-") {
		t.Fatalf("bake: %s", out)
	}
	if out := j.must("azure", "bake"); !strings.Contains(out, "exists already") {
		t.Fatalf("second bake did not find the image: %s", out)
	}
	var listed []struct {
		Name    string `json:"name"`
		Current bool   `json:"current"`
		State   string `json:"state"`
	}
	if err := json.Unmarshal([]byte(j.must("azure", "bake", "--list", "--format", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || !listed[0].Current || listed[0].State != "Succeeded" {
		t.Fatalf("bake --list: %+v", listed)
	}
	// No builder remains.
	if n := j.countVMs(); n != 0 {
		t.Fatalf("%d VM(s) after the bake, want none (the builder is deleted)", n)
	}

	plan := j.must("create", "planned", "--provider", "azure", "-b", "--azure-image=baked", "--dry-run")
	if !strings.Contains(plan, "image: baked "+listed[0].Name) || !strings.Contains(plan, "skips what the baked image holds (base-packages, docker)") ||
		strings.Contains(plan, "cloudinit_base_packages") {
		t.Fatalf("dry run does not say which image and what is skipped:\n%s", plan)
	}

	baked := j.timedCreate("baked-a", "-b", "--azure-image=baked")
	j.must("create", "baked-b", "--provider", "azure", "-b", "--azure-image=baked")
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
	t.Logf("BENCH bake: %.1fs; create from the first PUT to the agent ready: stock %.1fs, baked %.1fs (%.2fx)",
		bakeTime.Seconds(), stock.Seconds(), baked.Seconds(), ratio)
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
		name string
		now  func(stderr string) bool
	}{
		{"the builder's create", func(string) bool { return j.countVMs() > 0 }},
		// The builder runs (it bills) and mngr waits for its cloud-init.
		{"the builder's setup", func(stderr string) bool { return strings.Contains(stderr, "running the setup steps") }},
	} {
		j.interruptBake(point.name, point.now)
	}
	j.must("azure", "cleanup", "--force")
	j.checkNothingLeft()
	j.checkNoDockerLeft()
}

// interruptBake runs `mngr azure bake`, sends SIGINT once now (given the
// bake's stderr so far) holds and checks that no VM, disk, NIC or public
// IP remains.
func (j *journey) interruptBake(point string, now func(stderr string) bool) {
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
