//go:build azsim

package azure

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/mngr-azure/mngr/internal/azsim/openapi"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// conformance finishes the journey TestAzsim started (prepare, create, stop,
// start, list, destroy, gc, cleanup) with a spot create, checks that azsim
// refuses a body the OpenAPI documents reject, then replays every request
// azsim logged through the documents' schemas and requires zero findings.
func conformance(t *testing.T, c *Client, dir string) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	pa, _, err := c.ParseBuildArgs([]string{"--azure-spot"})
	if err != nil || !pa.Spot {
		t.Fatalf("parse --azure-spot: %+v %v", pa, err)
	}
	inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "spot-host", UserData: []byte("#cloud-config\n"),
		AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
	if err != nil {
		t.Fatal(err)
	}

	// azsim refuses what the schema rejects, in ARM's shape.
	bad := armcompute.VirtualMachine{Location: to.Ptr(c.cfg.DefaultRegion), Properties: &armcompute.VirtualMachineProperties{
		VMID:            to.Ptr("00000000-0000-0000-0000-000000000000"), // readOnly
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(c.cfg.DefaultVMSize))},
	}}
	_, err = c.vms.BeginCreateOrUpdate(ctx, c.cfg.ResourceGroup, "schema-reject", bad, nil)
	if code := errorCode(err); code != "InvalidRequestContent" || !strings.Contains(err.Error(), "properties.vmId") || !strings.Contains(err.Error(), strconv.Itoa(http.StatusBadRequest)) {
		t.Errorf("VM PUT with readOnly properties.vmId: %v (code %q), want 400 InvalidRequestContent naming properties.vmId", err, code)
	}

	if err := c.DestroyInstance(ctx, inst.HostID); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Cleanup(ctx); err != nil || !res.Deleted {
		t.Fatalf("cleanup: %+v %v", res, err)
	}

	ops, bodies, unchecked, findings := replayRequestLog(t, filepath.Join(dir, "requests.jsonl"))
	for _, f := range findings {
		t.Errorf("%s", f)
	}
	if len(ops) == 0 || bodies == 0 {
		t.Fatalf("replay checked %d operations and %d bodies; the journey's VM requests should have been covered", len(ops), bodies)
	}
	for _, want := range []string{"VirtualMachines_CreateOrUpdate", "VirtualMachines_Deallocate", "VirtualMachines_Start", "VirtualMachines_Delete", "VirtualMachines_Get"} {
		if ops[want] == 0 {
			t.Errorf("the journey never called %s", want)
		}
	}
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("OpenAPI conformance: %d operations, %d bodies checked (%s); %d requests to operations outside the vendored documents: %s",
		len(ops), bodies, strings.Join(names, ", "), sumCounts(unchecked), summary(unchecked))
}

// replayRequestLog validates every logged request the vendored documents
// describe. A PUT updating a resource is checked against the previous
// accepted PUT body of the same path. It returns requests per operation, the
// bodies checked, requests per undescribed (method, api-version, type), and
// the findings (the azsim-rejected probe excluded).
func replayRequestLog(t *testing.T, file string) (map[string]int, int, map[string]int, []string) {
	t.Helper()
	specs, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ops, unchecked := map[string]int{}, map[string]int{}
	last := map[string][]byte{}
	var findings []string
	bodies := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for line := 1; sc.Scan(); line++ {
		var rec struct {
			Method     string          `json:"method"`
			Path       string          `json:"path"`
			APIVersion string          `json:"api_version"`
			Status     int             `json:"status"`
			Body       json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("requests.jsonl line %d: %v", line, err)
		}
		op, ok := specs.Find(rec.Method, rec.Path, rec.APIVersion)
		if !ok {
			unchecked[rec.Method+" "+rec.APIVersion+" "+resourceTypeOf(rec.Path)]++
			continue
		}
		ops[op.ID]++
		if strings.HasSuffix(rec.Path, "/schema-reject") {
			continue // the probe azsim had to refuse
		}
		key := strings.ToLower(rec.Path)
		for _, fd := range op.Validate(rec.Path, rec.Body, last[key]) {
			findings = append(findings, "requests.jsonl line "+itoa(line)+" "+rec.Method+" "+rec.Path+": "+fd.String())
		}
		if len(rec.Body) > 0 {
			bodies++
		}
		switch {
		case rec.Method == http.MethodPut && rec.Status < 300:
			last[key] = rec.Body
		case rec.Method == http.MethodDelete:
			delete(last, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ops, bodies, unchecked, findings
}

// resourceTypeOf names the ARM resource type a path addresses, for the
// summary of requests no vendored document describes.
func resourceTypeOf(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			rest := segs[i+1:]
			out := rest[0]
			for j := 1; j < len(rest); j += 2 {
				out += "/" + rest[j]
			}
			return out
		}
	}
	if len(segs) >= 3 {
		return segs[2]
	}
	return strings.Join(segs, "/")
}

func summary(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" ×"+itoa(m[k]))
	}
	return strings.Join(parts, "; ")
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
