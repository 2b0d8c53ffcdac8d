//go:build azsim

package azure

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/mngr-azure/mngr/internal/azsim/openapi"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// conformance finishes the journey TestAzsim started (prepare, create, stop,
// start, list, destroy, gc, cleanup) with a spot create and an agent tag
// mirror, checks that azsim refuses a body the OpenAPI documents reject, then
// replays every request azsim logged: each must map to an operation of the
// vendored documents (or be a long-running-operation poll), and every body
// must validate with zero findings.
func conformance(t *testing.T, c *Client, dir string) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	nsgFollowsCIDRs(t, c)

	pa, _, err := c.ParseBuildArgs([]string{"--azure-spot"})
	if err != nil || !pa.Spot {
		t.Fatalf("parse --azure-spot: %+v %v", pa, err)
	}
	inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "spot-host", UserData: []byte("#cloud-config\n"),
		AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
	if err != nil {
		t.Fatal(err)
	}

	// The agent mirror PATCHes the VM's tags through the Tags API: a Merge
	// of the chunks, then (with no agents left) a Delete of the stale ones.
	for _, agents := range [][]core.AgentRecord{{{ID: core.NewAgentID(), Name: "conformance"}}, nil} {
		if err := c.MirrorAgents(ctx, inst.HostID, agents); err != nil {
			t.Fatalf("mirror %d agents: %v", len(agents), err)
		}
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

	r := replayRequestLog(t, filepath.Join(dir, "requests.jsonl"))
	for _, f := range r.findings {
		t.Errorf("%s", f)
	}
	if len(r.unchecked) > 0 {
		t.Errorf("%d logged requests map to no operation of the vendored documents (extend internal/azsim/openapi/specs): %s",
			sumCounts(r.unchecked), summary(r.unchecked))
	}
	for _, want := range []string{
		"VirtualMachines_CreateOrUpdate", "VirtualMachines_Deallocate", "VirtualMachines_Start", "VirtualMachines_Delete", "VirtualMachines_Get",
		"ResourceGroups_CreateOrUpdate", "ResourceGroups_Get", "ResourceGroups_Delete", "Providers_Get",
		"NetworkSecurityGroups_CreateOrUpdate", "VirtualNetworks_CreateOrUpdate", "Subnets_Get",
		"PublicIPAddresses_CreateOrUpdate", "PublicIPAddresses_Delete", "NetworkInterfaces_CreateOrUpdate", "NetworkInterfaces_Delete",
		"RoleDefinitions_CreateOrUpdate", "RoleDefinitions_List", "RoleDefinitions_Delete", "RoleAssignments_Create", "ResourceSkus_List", "Usage_List", "Tags_UpdateAtScope",
	} {
		if r.ops[want] == 0 {
			t.Errorf("the journey never called %s", want)
		}
	}
	for _, id := range []string{"VirtualMachines_CreateOrUpdate", "NetworkSecurityGroups_CreateOrUpdate", "VirtualNetworks_CreateOrUpdate",
		"PublicIPAddresses_CreateOrUpdate", "NetworkInterfaces_CreateOrUpdate", "ResourceGroups_CreateOrUpdate",
		"RoleDefinitions_CreateOrUpdate", "RoleAssignments_Create", "Tags_UpdateAtScope"} {
		if r.bodies[id] == 0 {
			t.Errorf("no body of %s was checked", id)
		}
	}
	names := make([]string, 0, len(r.ops))
	for n := range r.ops {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("OpenAPI conformance: %d requests, %d operations (%s), %d bodies checked, %d findings; %d long-running-operation polls; %d requests outside the vendored documents",
		r.requests, len(r.ops), strings.Join(names, ", "), sumCounts(r.bodies), len(r.findings), r.polls, sumCounts(r.unchecked))
}

// nsgFollowsCIDRs gives the NSG a rule of the user's own, then narrows and
// restores allowed_ssh_cidrs: each prepare PUTs the NSG back with the user's
// rule as azsim returned it, so the replay checks that mngr strips what ARM
// reports read-only (etag, provisioningState) before sending it.
func nsgFollowsCIDRs(t *testing.T, c *Client) {
	t.Helper()
	ctx := t.Context()
	g := nsgSpec(c.cfg.DefaultRegion, c.cfg.CIDRs(), c.cfg.ContainerSSHPort, managedTags(c.providerName))
	g.Properties.SecurityRules = append(g.Properties.SecurityRules, &armnetwork.SecurityRule{Name: to.Ptr("team-https"),
		Properties: &armnetwork.SecurityRulePropertiesFormat{Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
			Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound),
			Priority: to.Ptr(int32(2000)), SourceAddressPrefix: to.Ptr("10.0.0.0/8"), SourcePortRange: to.Ptr("*"),
			DestinationAddressPrefix: to.Ptr("*"), DestinationPortRange: to.Ptr("443")}})
	p, err := c.infra.nsgs.BeginCreateOrUpdate(ctx, c.cfg.ResourceGroup, c.cfg.NSGName, g, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, c.poll())
	}
	if err != nil {
		t.Fatalf("add the user's NSG rule: %v", err)
	}
	old := c.cfg.AllowedSSHCIDRs
	t.Cleanup(func() { c.cfg.AllowedSSHCIDRs = old })
	narrow := []string{"203.0.113.0/24", "198.51.100.7/32"}
	steps := []struct {
		cidrs   []string
		src     CIDRSource
		updated bool
		want    []string
	}{
		{narrow, CIDRsFromSettings, true, narrow},
		// Re-run without allowed_ssh_cidrs anywhere: the narrow rules stay.
		{*old, CIDRsDefault, false, narrow},
		// The block widening them without a terminal: refused, rules stay.
		{*old, CIDRsFromSettings, false, narrow},
		// --allowed-ssh-cidr 0.0.0.0/0 on the command line widens them.
		{*old, CIDRsFromFlag, true, *old},
	}
	for _, st := range steps {
		c.cfg.AllowedSSHCIDRs = &st.cidrs
		res, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second, CIDRSource: st.src})
		if (err != nil) != (st.src == CIDRsFromSettings && !st.updated) {
			t.Fatalf("prepare with allowed_ssh_cidrs %v from %d: %v", st.cidrs, st.src, err)
		}
		updated := false
		for _, r := range res.Resources {
			updated = updated || (r.Kind == "network-security-group" && r.Updated)
		}
		if updated != st.updated {
			t.Errorf("prepare with allowed_ssh_cidrs %v from %d: NSG updated %v, want %v", st.cidrs, st.src, updated, st.updated)
		}
		g, err := c.infra.nsgs.Get(ctx, c.cfg.ResourceGroup, c.cfg.NSGName, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := mngrRuleSources(g.SecurityGroup)
		want := append([]string{}, st.want...)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after prepare with %v from %d the rules allow %v, want %v", st.cidrs, st.src, got, want)
		}
	}
	got, err := c.infra.nsgs.Get(ctx, c.cfg.ResourceGroup, c.cfg.NSGName, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, r := range got.Properties.SecurityRules {
		kept = kept || deref(r.Name) == "team-https"
	}
	if !kept {
		t.Errorf("the user's NSG rule did not survive prepare")
	}
}

// replay is what replayRequestLog found.
type replay struct {
	requests int
	ops      map[string]int // requests per operation
	bodies   map[string]int // bodies checked per operation
	// polls are GETs of the status URLs a long-running operation handed
	// out (Azure-AsyncOperation, Location): ARM's protocol, not operations
	// of any OpenAPI document.
	polls     int
	unchecked map[string]int // requests per (method, api-version, type) no document describes
	findings  []string
}

// lroPoll matches the status monitors azsim hands out, in ARM's form
// /subscriptions/{id}/providers/{namespace}/locations/{location}/operations|operationResults/{id}.
var lroPoll = regexp.MustCompile(`(?i)^/subscriptions/[^/]+/providers/[^/]+/locations/[^/]+/(operations|operationresults)/[^/]+$`)

// replayRequestLog validates every logged request against the vendored
// documents. A PUT updating a resource is checked against the previous
// accepted PUT body of the same path. The azsim-rejected probe is counted
// but not validated.
func replayRequestLog(t *testing.T, file string) replay {
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
	r := replay{ops: map[string]int{}, bodies: map[string]int{}, unchecked: map[string]int{}}
	last := map[string][]byte{}
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
		r.requests++
		op, ok := specs.Find(rec.Method, rec.Path, rec.APIVersion)
		if !ok {
			if rec.Method == http.MethodGet && len(rec.Body) == 0 && lroPoll.MatchString(rec.Path) {
				r.polls++
				continue
			}
			r.unchecked[rec.Method+" "+rec.APIVersion+" "+resourceTypeOf(rec.Path)]++
			continue
		}
		r.ops[op.ID]++
		if strings.HasSuffix(rec.Path, "/schema-reject") {
			continue // the probe azsim had to refuse
		}
		key := strings.ToLower(rec.Path)
		for _, fd := range op.Validate(rec.Path, rec.Body, last[key]) {
			r.findings = append(r.findings, "requests.jsonl line "+itoa(line)+" "+rec.Method+" "+rec.Path+": "+fd.String())
		}
		if len(rec.Body) > 0 {
			r.bodies[op.ID]++
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
	return r
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
