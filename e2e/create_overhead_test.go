//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCreateOverheadOnAzsim measures what `mngr create` adds to the time the
// simulated machine itself takes to come up, in one run. The machine's time
// is from azsim accepting the VM PUT to the guest's cloud-init finishing its
// last stage (read from the guest's /var/lib/cloud/data/status.json): boot,
// sshd, mngr's user-data and the baked image load are the machine's. The
// rest of the wall time of create is mngr's: its ARM writes before the VM,
// the slack of polling the VM's operation, noticing cloud-init is done, and
// the steps after it (image, container, container sshd, records, agent).
//
// Run: go test -tags e2e ./e2e -run TestCreateOverheadOnAzsim -v (about a minute;
// figures in docs/BENCHMARKS.md, "Create overhead").
func TestCreateOverheadOnAzsim(t *testing.T) {
	needDockerJourney(t, "boots a real simulated VM")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")

	start := time.Now()
	_, stderr, err := j.mngr("create", "bench", "--provider", "azure", "--no-connect")
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _, _, _ = j.mngr("destroy", "-f", "bench") })

	put := vmPutTime(t, j.data, start)
	containers := containersOf(t, j.data)
	if len(containers) != 1 {
		t.Fatalf("want one machine container, got %v", containers)
	}
	final := cloudInitFinished(t, containers[0])
	machine := final.Sub(put)
	if machine <= 0 || machine > wall {
		t.Fatalf("machine time %s outside the create's %s (PUT at %s, cloud-init done at %s)", machine, wall, put, final)
	}
	overhead := wall - machine
	ratio := wall.Seconds() / machine.Seconds()
	t.Logf("create %.1fs = machine %.1fs (VM PUT → cloud-init done) + mngr %.1fs; create/machine = %.2f",
		wall.Seconds(), machine.Seconds(), overhead.Seconds(), ratio)
	for _, s := range stepDurations(stderr) {
		t.Logf("  step %s", s)
	}
	// The bound leaves room for a loaded CI machine; on an idle one the
	// ratio is about 1.1 (docs/BENCHMARKS.md).
	if ratio > 1.5 {
		t.Errorf("create took %.2f× the machine's own time (mngr added %.1fs); want ≤ 1.5×", ratio, overhead.Seconds())
	}
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
