//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/testenv"
	"github.com/mngr-azure/mngr/internal/vps"
)

// TestCreateOverheadOnAzsim measures what `mngr create` adds to the time the
// simulated machine itself takes, in one run, two ways.
//
// Against a reference machine: after the create, a second VM of the same
// image boots through azsim's docker backend directly (no ARM, no mngr, no
// custom data) and does by hand what mngr's setup does on Debian's Azure
// image, each phase timed from outside: boot to sshd, cloud-init's own
// first boot, the base packages (apt-get update; rsync, jq, inotify-tools),
// Docker (Debian's docker.io) and loading the agent image. The sum is the
// bare work; the create, which also runs mngr's scrub, firewall and units
// and its ARM calls, must stay within 1.6× it (a regression guard: a step
// run twice or a sleep shows). The reference runs second, on a warm apt
// cache; the agent tarball is read into the page cache before either.
//
// Within the create: the machine's part is from azsim accepting the VM PUT
// to the guest's cloud-init finishing its last stage (the guest's
// /var/lib/cloud/data/status.json) plus the agent image load (mngr's step,
// the VM's docker doing the work); the phases' own times come from the
// guest's setup-step log (vps.SetupStepsLog). The create must take at
// most 1.2× that machine time: mngr's own overhead.
//
// Run: go test -tags e2e ./e2e -run TestCreateOverheadOnAzsim -v (about two
// minutes; figures in docs/BENCHMARKS.md, "Create overhead" and "Setup phases").
func TestCreateOverheadOnAzsim(t *testing.T) {
	needDockerJourney(t, "boots two real simulated VMs")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")
	// Both machines load the same agent tarball from this machine's disk:
	// read it once first, so neither finds it in the page cache because
	// the other read it (the reference runs second and would).
	warmAgentTarball(t)

	// A shared 2-core machine is noisy: a first measurement over a bound is
	// taken again once, with a new VM; the bounds hold when either try
	// meets both.
	var tries []overheadRatios
	for attempt, name := range []string{"bench", "bench2"} {
		r := measureCreateOverhead(t, j, name)
		if r.overMachine <= 1.2 && r.overReference <= 1.6 {
			return
		}
		tries = append(tries, r)
		if attempt == 0 {
			t.Logf("first try over a bound (create / machine %.2f, want ≤ 1.2; create / reference %.2f, want ≤ 1.6): measuring once more",
				r.overMachine, r.overReference)
		}
	}
	t.Errorf("create overhead over its bounds on both tries: create / machine %.2f and %.2f (want ≤ 1.2), create / reference %.2f and %.2f (want ≤ 1.6)",
		tries[0].overMachine, tries[1].overMachine, tries[0].overReference, tries[1].overReference)
}

// overheadRatios are one create's times over the machine's own: over the
// machine time inside the create (VM PUT to cloud-init done, plus the
// image load: what mngr adds), and over a reference machine doing the
// same installs by hand (what mngr's whole setup costs beyond the bare
// work, scrub, firewall and units included).
type overheadRatios struct {
	overMachine, overReference float64
}

// measureCreateOverhead creates agent name on a new VM, times it against its
// own machine time and a new reference machine, and destroys the agent.
func measureCreateOverhead(t *testing.T, j *journey, name string) overheadRatios {
	t.Helper()
	start := time.Now()
	_, stderr, err := j.mngr("create", name, "--provider", "azure", "--no-connect")
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_, _, _ = j.mngr("destroy", "-f", name)
		}
	})

	put := vmPutTime(t, j.data, start)
	containers := containersOf(t, j.data)
	if len(containers) != 1 {
		t.Fatalf("want one machine container, got %v", containers)
	}
	final := cloudInitFinished(t, containers[0])
	load := stepSeconds(t, stderr, "getting the agent image")
	machine := final.Sub(put) + load
	if machine <= 0 || machine > wall {
		t.Fatalf("machine time %s outside the create's %s (PUT at %s, cloud-init done at %s)", machine, wall, put, final)
	}
	phases := setupStepTimes(t, containers[0])
	t.Logf("create %.1fs = machine %.1fs (VM PUT → cloud-init done, + agent image load %.1fs) + mngr %.1fs; create/machine = %.2f",
		wall.Seconds(), machine.Seconds(), load.Seconds(), (wall - machine).Seconds(), wall.Seconds()/machine.Seconds())
	t.Logf("  phases in the create: base packages %.1fs, docker %.1fs, agent image load %.1fs",
		phases["base-packages"].Seconds(), phases["docker"].Seconds(), load.Seconds())
	for _, s := range stepDurations(stderr) {
		t.Logf("  step %s", s)
	}

	ref := referenceSetup(t)
	ratio := wall.Seconds() / ref.total().Seconds()
	t.Logf("reference machine %.1fs: boot to sshd %.1fs, cloud-init first boot %.1fs, base packages %.1fs, docker %.1fs, agent image load %.1fs",
		ref.total().Seconds(), ref.boot.Seconds(), ref.cloudInit.Seconds(), ref.base.Seconds(), ref.docker.Seconds(), ref.load.Seconds())
	t.Logf("create / reference = %.2f (phase ratios: base packages %.2f, docker %.2f, agent image load %.2f)", ratio,
		phases["base-packages"].Seconds()/ref.base.Seconds(), phases["docker"].Seconds()/ref.docker.Seconds(), load.Seconds()/ref.load.Seconds())
	j.must("destroy", "-f", name)
	destroyed = true
	return overheadRatios{overMachine: wall.Seconds() / machine.Seconds(), overReference: ratio}
}

// warmAgentTarball reads the agent image tarball the VMs load (from the
// images azsim was given) into the page cache.
func warmAgentTarball(t *testing.T) {
	t.Helper()
	for _, kv := range journeyImages(t) {
		path, ok := strings.CutPrefix(kv, "MNGR_AGENT_IMAGE_TAR=")
		if !ok {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("read the agent tarball: %v", err)
		}
		_, err = io.Copy(io.Discard, f)
		_ = f.Close()
		if err != nil {
			t.Fatalf("read the agent tarball: %v", err)
		}
	}
}

// referenceTimes are the phases of the reference machine, timed from outside.
type referenceTimes struct {
	boot, cloudInit, base, docker, load time.Duration
}

func (r referenceTimes) total() time.Duration {
	return r.boot + r.cloudInit + r.base + r.docker + r.load
}

// referenceSetup boots a VM of the same image, on the same apt cache,
// through the docker backend directly and runs mngr's setup work in it by
// hand (docker exec), timing each phase.
func referenceSetup(t *testing.T) referenceTimes {
	t.Helper()
	ctx := context.Background()
	img, err := docker.ImagesFromEnv(os.Getenv)
	if err != nil {
		testenv.Missing(t, "no simulated-VM images (run scripts/setup.sh): %v", err)
	}
	proxy, err := docker.LocalAPTProxy(ctx, os.Getenv)
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	data := t.TempDir()
	b, err := docker.New(ctx, docker.Options{DataDir: data, Images: img, APTProxy: proxy, BootTimeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background(), true); err != nil {
			t.Errorf("remove the reference machine: %v", err)
		}
	})
	spec := vm.Spec{
		ResourceID: "/subscriptions/bench/resourceGroups/bench/providers/Microsoft.Compute/virtualMachines/reference",
		Name:       "reference", AdminUser: "azureuser", PublicIP: freeBenchIP(t),
	}
	var r referenceTimes
	start := time.Now()
	if err := b.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	r.boot = time.Since(start)
	containers := containersOf(t, data)
	if len(containers) != 1 {
		t.Fatalf("want one reference container, got %v", containers)
	}
	run := func(what, script string) time.Duration {
		t.Helper()
		start := time.Now()
		out, err := exec.CommandContext(ctx, "docker", "exec", containers[0], "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("reference %s: %v\n%s", what, err, out)
		}
		return time.Since(start)
	}
	const apt = "export DEBIAN_FRONTEND=noninteractive; "
	r.cloudInit = run("cloud-init", "cloud-init status --wait >/dev/null")
	r.base = run("base packages", apt+"apt-get update && apt-get install -y --no-install-recommends rsync jq inotify-tools")
	r.docker = run("docker", apt+"apt-get install -y --no-install-recommends docker.io && systemctl enable docker && systemctl start docker")
	r.load = run("agent image load", "docker load -i /var/lib/mngr/images/agent.tar")
	return r
}

// freeBenchIP picks a 127.77.250.x address nothing listens on.
func freeBenchIP(t *testing.T) string {
	t.Helper()
	for i := 1; i < 250; i++ {
		ip := fmt.Sprintf("127.77.250.%d", i)
		free := true
		for _, port := range []string{"22", "2222"} {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), 200*time.Millisecond); err == nil {
				_ = c.Close()
				free = false
			}
		}
		if free {
			return ip
		}
	}
	t.Fatal("no free 127.77.250.x address")
	return ""
}

// setupStepTimes reads the guest's setup-step log: each step's duration.
func setupStepTimes(t *testing.T, container string) map[string]time.Duration {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "docker", "exec", container, "cat", vps.SetupStepsLog).Output()
	if err != nil {
		t.Fatalf("read %s in %s: %v", vps.SetupStepsLog, container, err)
	}
	starts := map[string]float64{}
	got := map[string]time.Duration{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("setup-step log line %q", l)
		}
		at, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("setup-step log line %q: %v", l, err)
		}
		switch f[1] {
		case "start":
			starts[f[0]] = at
		case "ok":
			got[f[0]] = time.Duration((at - starts[f[0]]) * float64(time.Second))
		default:
			t.Errorf("setup step %s: %s", f[0], f[1])
		}
	}
	for _, name := range []string{"base-packages", "docker"} {
		if got[name] <= 0 {
			t.Fatalf("setup-step log has no time for %s:\n%s", name, out)
		}
	}
	return got
}

// stepSeconds is the duration mngr's progress gave the step name.
func stepSeconds(t *testing.T, stderr, name string) time.Duration {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		_, rest, ok := strings.Cut(l, name+" … done (")
		if !ok {
			continue
		}
		secs, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), "s)"), 64)
		if err != nil {
			t.Fatalf("progress line %q: %v", l, err)
		}
		return time.Duration(secs * float64(time.Second))
	}
	t.Fatalf("no %q step in the create's progress:\n%s", name, stderr)
	return 0
}

// vmPutTime is when azsim logged the first virtual-machine PUT after since.
func vmPutTime(t *testing.T, data string, since time.Time) time.Time {
	t.Helper()
	var put time.Time
	found := false
	err := eachLoggedRequest(data, 0, func(line []byte) {
		var l struct {
			Time   time.Time `json:"time"`
			Method string    `json:"method"`
			Path   string    `json:"path"`
		}
		if found || json.Unmarshal(line, &l) != nil {
			return
		}
		if l.Method == "PUT" && strings.Contains(strings.ToLower(l.Path), "/virtualmachines/") && !l.Time.Before(since) {
			put, found = l.Time, true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("no virtual-machine PUT in azsim's request log")
	}
	return put
}

// cloudInitFinished reads when the guest's cloud-init finished its last
// stage (modules-final), from its own status file.
func cloudInitFinished(t *testing.T, container string) time.Time {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "docker", "exec", container, "cat", "/var/lib/cloud/data/status.json").Output()
	if err != nil {
		t.Fatalf("read cloud-init status in %s: %v", container, err)
	}
	var st struct {
		V1 map[string]json.RawMessage `json:"v1"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("cloud-init status: %v\n%s", err, out)
	}
	var final struct {
		Finished *float64 `json:"finished"`
	}
	if err := json.Unmarshal(st.V1["modules-final"], &final); err != nil || final.Finished == nil {
		t.Fatalf("cloud-init status has no modules-final finish time: %s", out)
	}
	sec := int64(*final.Finished)
	return time.Unix(sec, int64((*final.Finished-float64(sec))*1e9))
}

// stepDurations picks the "… done (N.Ns)" lines out of mngr's progress.
func stepDurations(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, " done (") && strings.HasSuffix(l, "s)") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}
