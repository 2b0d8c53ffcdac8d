//go:build e2e

package e2e

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// vmPutFault is the path of a VM create (not its tag or role sub-resources).
const vmPutFault = `(?i)/providers/Microsoft\.Compute/virtualMachines/[^/]+$`

var vmPutRE = regexp.MustCompile(vmPutFault)

// stateVMSizes lists the sizes of the VMs in azsim's state.json.
func stateVMSizes(t *testing.T, data string) []string {
	t.Helper()
	var sizes []string
	walkAzsimState(t, data, func(obj map[string]any) {
		if hp, ok := obj["hardwareProfile"].(map[string]any); ok {
			if s, ok := hp["vmSize"].(string); ok {
				sizes = append(sizes, s)
			}
		}
	})
	sort.Strings(sizes)
	return sizes
}

func (j *journey) resourceCount(typ string) int {
	j.t.Helper()
	res, _ := j.azsimState()["resources"].(map[string]any)
	n, _ := res[typ].(float64)
	return int(n)
}

// TestCapacityFailoverOnAzsim creates a host with three candidate sizes
// while azsim refuses the first VM create with SkuNotAvailable and the
// second with QuotaExceeded: the VM must come up with the third size, the
// attempts must be reported, and the failed attempts' NICs and public IPs
// (which azsim, like Azure, reserves after a failed VM create) must be
// gone once gc runs after the reservation window.
func TestCapacityFailoverOnAzsim(t *testing.T) {
	j := startMachinelessJourney(t)
	j.must("azure", "prepare")
	j.admin(http.MethodPost, "/faults", `{"method":"PUT","path":"`+strings.ReplaceAll(vmPutFault, `\`, `\\`)+`","count":1,"status":409,"code":"SkuNotAvailable"}`)
	j.admin(http.MethodPost, "/faults", `{"method":"PUT","path":"`+strings.ReplaceAll(vmPutFault, `\`, `\\`)+`","count":1,"status":409,"code":"QuotaExceeded","message":"Operation results in exceeding quota limits of Core. Maximum allowed: 4."}`)

	// With MNGR_VPS_SKIP_HOST_SETUP the host has no shell, so the agent step
	// fails and mngr rolls the VM back; a fault on VM deletes keeps the VM
	// so its size can be read from azsim's state.
	j.admin(http.MethodPost, "/faults", `{"method":"DELETE","path":"`+strings.ReplaceAll(vmPutFault, `\`, `\\`)+`","status":409,"code":"OperationNotAllowed","message":"held by the test"}`)

	_, errOut, _ := j.mngr("create", "x", "--provider", "azure", "-b", "--azure-vm-size=Standard_D4s_v3,Standard_D2s_v5,Standard_B2s", "--no-connect")
	for _, want := range []string{
		"attempt 1 of 3: Standard_D4s_v3 in westus … failed",
		"attempt 2 of 3: Standard_D2s_v5 in westus … failed",
		"attempt 3 of 3: Standard_B2s in westus … done",
		"Standard_D4s_v3 in westus failed (no capacity); trying the next candidate",
		"Standard_D2s_v5 in westus failed (quota exceeded); trying the next candidate",
		"prices as of", // the price estimate line
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	puts := j.armRequests(http.MethodPut, "/virtualMachines/")
	var statuses []int
	for _, r := range puts {
		if p, _ := r["path"].(string); vmPutRE.MatchString(p) {
			st, _ := r["status"].(float64)
			statuses = append(statuses, int(st))
		}
	}
	if len(statuses) != 3 || statuses[0] != 409 || statuses[1] != 409 || statuses[2] >= 300 {
		t.Errorf("VM PUT statuses %v, want 409, 409, 2xx", statuses)
	}
	if got := stateVMSizes(t, j.data); strings.Join(got, ",") != "Standard_B2s" {
		t.Fatalf("VM sizes in azsim: %v, want one Standard_B2s", got)
	}

	// The create failed and its process has ended (mngr-creator tag): once
	// the test lets deletes through and the 180 s NIC reservation of the
	// failed attempts is over, one gc takes all it left, the held VM
	// included, at once (not after 30 minutes).
	j.admin(http.MethodDelete, "/faults", "")
	j.admin(http.MethodPost, "/clock", `{"advance_seconds": 400}`)
	j.must("gc")
	if got := stateVMSizes(t, j.data); len(got) != 0 {
		t.Errorf("VMs left after gc: %v, want none", got)
	}
	if n := j.resourceCount("Microsoft.Network/networkInterfaces"); n != 0 {
		t.Errorf("%d NICs left after gc, want none", n)
	}
	if n := j.resourceCount("Microsoft.Network/publicIPAddresses"); n != 0 {
		t.Errorf("%d public IPs left after gc, want none", n)
	}
}

// TestCreateDryRunOnAzsim checks that --dry-run makes no ARM write and
// leaves no file under the mngr home, and prints the plan.
func TestCreateDryRunOnAzsim(t *testing.T) {
	j := startMachinelessJourney(t)
	j.must("azure", "prepare")
	home := filepath.Join(j.dir, "home")
	before := treeOf(t, home)
	writesBefore := j.armWrites()

	out := j.must("create", "dry", "--provider", "azure", "-b", "--azure-vm-size=Standard_D2s_v5,Standard_D2as_v5", "-b", "--azure-spot", "--dry-run", "--show-cloud-init")
	for _, want := range []string{"Dry run: nothing was created", "Microsoft.Compute/virtualMachines", "size Standard_D2s_v5, spot", "Microsoft.Network/networkInterfaces",
		"#cloud-config", "estimate ~$0.0336/hour for Spot Standard_D2s_v5 in westus", "prices as of", "candidates, tried in this order"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	var plan struct {
		Resources []struct {
			Type, Name, Region, Size string
			Spot                     bool
			Tags                     map[string]string
		} `json:"resources"`
		UserData string `json:"user_data"`
		Estimate string `json:"estimate"`
	}
	if err := json.Unmarshal([]byte(j.must("create", "dry", "--provider", "azure", "-b", "--azure-vm-size=Standard_D4s_v5", "--dry-run", "--format", "json")), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Resources) < 3 || !strings.HasPrefix(plan.UserData, "#cloud-config") || !strings.Contains(plan.Estimate, "prices as of") {
		t.Errorf("json plan %+v", plan)
	}
	if w := j.armWrites(); w != writesBefore {
		t.Errorf("dry runs made %d ARM writes", w-writesBefore)
	}
	if after := treeOf(t, home); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("dry runs changed the mngr home:\nbefore %v\nafter  %v", before, after)
	}
	if n := j.countVMs(); n != 0 {
		t.Errorf("%d VMs after dry runs", n)
	}
}

// armWrites counts the non-GET ARM requests azsim logged.
func (j *journey) armWrites() int {
	j.t.Helper()
	n := 0
	for _, m := range []string{http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		n += len(j.armRequests(m, "/"))
	}
	return n
}

func treeOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestSpotDefaultSizeOnAzsim: `mngr create --provider azure -b --azure-spot`
// without a size creates the VM with a size Azure sells as Spot (the
// default Standard_B2s is not, and azsim refuses a B-series Spot VM as
// Azure does), saying so in progress and in --dry-run; an explicit
// B-series size with --azure-spot is refused before any ARM write.
func TestSpotDefaultSizeOnAzsim(t *testing.T) {
	j := startMachinelessJourney(t)
	j.must("azure", "prepare")
	const note = "using Standard_D2as_v5, because default_vm_size Standard_B2s cannot be Spot"

	out := j.must("create", "dry", "--provider", "azure", "-b", "--azure-spot", "--dry-run")
	for _, want := range []string{note, "size Standard_D2as_v5, spot"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}

	writes := j.armWrites()
	_, errOut, err := j.mngr("create", "bad", "--provider", "azure", "-b", "--azure-vm-size=Standard_B2s", "-b", "--azure-spot", "--no-connect")
	if err == nil || !strings.Contains(errOut, "Standard_B2s cannot be Spot") || !strings.Contains(errOut, "Standard_D2as_v5") {
		t.Errorf("explicit B-series Spot: err %v, stderr:\n%s", err, errOut)
	}
	if w := j.armWrites(); w != writes {
		t.Errorf("the refused create made %d ARM writes", w-writes)
	}

	// A Gen1-only size with the default Gen2 Debian image: refused before
	// any write, one Error: line naming the size and generation, and a next
	// step naming sizes that boot it.
	_, errOut, err = j.mngr("create", "gen1", "--provider", "azure", "-b", "--azure-vm-size=Standard_D2_v3", "--no-connect")
	if err == nil || !strings.Contains(errOut, "Standard_D2_v3 cannot boot the image's Hyper-V generation V2") || !strings.Contains(errOut, "Standard_D2s_v3") {
		t.Errorf("Gen1-only size: err %v, stderr:\n%s", err, errOut)
	}
	if w := j.armWrites(); w != writes {
		t.Errorf("the Gen1-only create made %d ARM writes", w-writes)
	}

	// As in TestCapacityFailoverOnAzsim, the host has no shell and mngr
	// rolls the VM back; a fault on VM deletes keeps it for inspection.
	j.admin(http.MethodPost, "/faults", `{"method":"DELETE","path":"`+strings.ReplaceAll(vmPutFault, `\`, `\\`)+`","status":409,"code":"OperationNotAllowed","message":"held by the test"}`)
	_, errOut, _ = j.mngr("create", "spotty", "--provider", "azure", "-b", "--azure-spot", "--no-connect")
	if !strings.Contains(errOut, note) {
		t.Errorf("progress does not say which size Spot uses:\n%s", errOut)
	}
	if got := stateVMSizes(t, j.data); strings.Join(got, ",") != "Standard_D2as_v5" {
		t.Fatalf("VM sizes in azsim: %v, want one Standard_D2as_v5", got)
	}
	var priorities []string
	walkAzsimState(t, j.data, func(obj map[string]any) {
		if p, ok := obj["priority"].(string); ok {
			priorities = append(priorities, p)
		}
	})
	if strings.Join(priorities, ",") != "Spot" {
		t.Errorf("VM priorities %v, want Spot", priorities)
	}
}
