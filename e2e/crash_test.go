//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// leftoverTypes are the per-host resources a killed create may leave.
var leftoverTypes = map[string]string{
	"vm": "microsoft.compute/virtualmachines", "nic": "microsoft.network/networkinterfaces",
	"ip": "microsoft.network/publicipaddresses", "disk": "microsoft.compute/disks",
	"role": "microsoft.authorization/roleassignments",
}

// hostResources counts azsim's per-host resources by short kind.
func hostResources(j *journey) map[string]int {
	j.t.Helper()
	res, _ := j.azsimState()["resources"].(map[string]any)
	out := map[string]int{}
	for typ, n := range res {
		for short, full := range leftoverTypes {
			if strings.EqualFold(typ, full) {
				f, _ := n.(float64)
				out[short] += int(f)
			}
		}
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	for k := range leftoverTypes {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// armWrites counts the PUT/POST/DELETE lines of azsim's request log after
// byte offset from.
func armWrites(t testing.TB, data string, from int64) int {
	t.Helper()
	n := 0
	// No log yet counts as no writes.
	_ = eachLoggedRequest(data, from, func(line []byte) {
		var l struct {
			Method string `json:"method"`
		}
		if json.Unmarshal(line, &l) == nil && (l.Method == http.MethodPut || l.Method == http.MethodPost || l.Method == http.MethodDelete) {
			n++
		}
	})
	return n
}

func logSize(data string) int64 {
	fi, err := os.Stat(filepath.Join(data, "requests.jsonl"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// startMngr starts mngr in the journey's environment without waiting.
func (j *journey) startMngr(stderr *bytes.Buffer, args ...string) *exec.Cmd {
	j.t.Helper()
	cmd := exec.CommandContext(context.Background(), filepath.Join(binDir, "mngr"), args...)
	cmd.Env, cmd.Dir = j.env, j.dir
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		j.t.Fatal(err)
	}
	return cmd
}

// vmNameRE matches the VM (and NIC, IP) names mngr derives from a host.
var vmNameRE = regexp.MustCompile(`mngr-[a-z0-9-]+-[0-9a-f]{8}`)

// vmBooting reports whether azsim has a VM whose machine is still starting.
func vmBooting(j *journey) bool {
	vms, _ := j.azsimState()["vms"].([]any)
	for _, v := range vms {
		if m, _ := v.(map[string]any); m["power_state"] == "starting" {
			return true
		}
	}
	return false
}

// reclaim runs what a user runs after a crash: destroy (where mngr kept a
// host record), then a gc at once, which removes the VM of the killed
// create (its mngr process on this machine has ended; a create still in
// flight is protected, see TestInterruptMatrixARM), a gc once 300 s have
// passed on the ARM server's clock (a NIC Azure still reserved goes) and
// one after 31 min.
func reclaim(t *testing.T, j *journey, name string, baseline map[string]int) {
	t.Helper()
	// A VM whose machine still boots (the killed create's PUT was answered)
	// is left alone by delete and gc until it is up, as on Azure.
	for deadline := time.Now().Add(4 * time.Minute); vmBooting(j); {
		if time.Now().After(deadline) {
			t.Fatal("a VM was still booting after 4 minutes")
		}
		time.Sleep(time.Second)
	}
	_, _, _ = j.mngr("destroy", "-f", name)
	j.must("gc")
	if got := hostResources(j); got["vm"] != baseline["vm"] || got["disk"] != baseline["disk"] {
		t.Errorf("a gc right after the killed create %s leaves %v (baseline %v): its VM must go at once", name, got, baseline)
	}
	j.admin(http.MethodPost, "/clock", `{"advance_seconds":300}`)
	j.must("gc")
	j.admin(http.MethodPost, "/clock", `{"advance_seconds":1560}`)
	j.must("gc")
	_, _, _ = j.mngr("destroy", "-f", name)
	if got := hostResources(j); !sameCounts(got, baseline) {
		t.Errorf("after killing create %s, destroy and gc leave %v (baseline %v)", name, got, baseline)
	}
}

// TestCrashMatrix kills `mngr create` right after its k-th ARM write, for
// every k until a create finishes unkilled, and proves destroy + gc leave no
// public IP, NIC, disk, VM or role assignment behind. Each k gets a fresh
// azsim, so the time the ARM clock is moved for gc never carries over.
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("crash matrix runs mngr against azsim; skipped with -short")
	}
	start := time.Now()
	for k := 1; k <= 40; k++ {
		completed := false
		t.Run(fmt.Sprintf("kill after write %d", k), func(t *testing.T) {
			j := startMachinelessJourney(t)
			j.must("azure", "prepare")
			baseline := hostResources(j)
			name := fmt.Sprintf("c%d", k)
			from := logSize(j.data)
			var out bytes.Buffer
			cmd := j.startMngr(&out, "create", name, "--provider", "azure", "--no-connect")
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			killed := false
			deadline := time.After(3 * time.Minute)
		wait:
			for {
				select {
				case err := <-done:
					// With --vm-backend none the create ends on its own after
					// its last ARM write: it cannot reach the (absent) machine
					// and rolls the host back. Either way the matrix is complete.
					t.Logf("create %s ended unkilled: %v", name, err)
					completed = true
					break wait
				case <-deadline:
					_ = cmd.Process.Kill()
					t.Fatalf("create %s hung", name)
				case <-time.After(time.Millisecond):
					if armWrites(t, j.data, from) >= k {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						t.Logf("mngr killed: %v", <-done)
						killed = true
						break wait
					}
				}
			}
			t.Logf("k=%d killed=%v writes seen=%d resources after kill %v", k, killed, armWrites(t, j.data, from), hostResources(j))
			reclaim(t, j, name, baseline)
		})
		if completed {
			t.Logf("create completed unkilled at k=%d: %d kill points checked in %s", k, k-1, time.Since(start).Round(time.Second))
			return
		}
	}
	t.Fatal("create never completed within 40 ARM writes")
}

// TestCrashMatrixHostSetup kills `mngr create --format jsonl` on real
// simulated VMs once per distinct host-setup progress step and checks the
// same zero-leftover promise plus no leftover containers. It needs docker
// and the images (MNGR_TEST_VM_IMAGE set, as the other docker tests).
func TestCrashMatrixHostSetup(t *testing.T) {
	// Mostly waiting on simulated VMs (boot, cloud-init, docker load): it
	// runs beside the other VM journeys (its own azsim and addresses).
	t.Parallel()
	if os.Getenv("MNGR_TEST_VM_IMAGE") == "" {
		testenv.Missing(t, "MNGR_TEST_VM_IMAGE is not set (scripts/setup.sh builds the simulated-VM image)")
	}
	needDockerJourney(t, "kills creates during host setup on real simulated VMs")
	seen := map[string]bool{}
	for i := 1; i <= 16; i++ {
		completed := false
		// A fresh azsim per kill point: reclaim moves the ARM clock, which
		// must not age the next create's resources.
		t.Run(fmt.Sprintf("kill point %d", i), func(t *testing.T) {
			j := startAzsimJourney(t, "docker")
			j.must("azure", "prepare")
			baseline := hostResources(j)
			name := fmt.Sprintf("s%d", i)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(context.Background(), filepath.Join(binDir, "mngr"), "create", name, "--provider", "azure", "--no-connect", "--format", "jsonl")
			cmd.Env, cmd.Dir, cmd.Stderr = j.env, j.dir, pw
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			_ = pw.Close()
			step := ""
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				var ev struct {
					Event string `json:"event"`
					Step  string `json:"step"`
					Name  string `json:"name"`
				}
				if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "progress" {
					continue
				}
				// Step names carry the host's VM name; a kill point is the step.
				s := vmNameRE.ReplaceAllString(ev.Step+ev.Name, "<vm>")
				s = strings.ReplaceAll(s, name, "<agent>")
				if s != "" && !seen[s] {
					seen[s], step = true, s
					_ = cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			}
			_ = pr.Close()
			err = cmd.Wait()
			if step == "" {
				if err != nil {
					t.Errorf("create %s failed unkilled: %v", name, err)
				}
				t.Logf("create completed after %d kill points", i-1)
				completed = true
				_, _, _ = j.mngr("destroy", "-f", name)
				reclaim(t, j, name, baseline)
				return
			}
			t.Logf("killed %s after progress step %q", name, step)
			reclaim(t, j, name, baseline)
			if c := containersOf(t, j.data); len(c) != 0 {
				t.Errorf("after killing at %q and reclaiming, containers remain: %v", step, c)
			}
		})
		if completed {
			return
		}
	}
	t.Errorf("create did not complete within 16 kill points")
}
