//go:build azsim

package azure

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// loggedRequest is one line of azsim's requests.jsonl.
type loggedRequest struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	Principal string `json:"principal"`
}

// requestsBy returns the ARM requests principal made, in order.
func requestsBy(t *testing.T, dir, principal string) []loggedRequest {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "requests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []loggedRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var l loggedRequest
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Principal == principal {
			out = append(out, l)
		}
	}
	return out
}

// TestAzsimOperatorJourney runs the privileged step once as the owner and
// then every daily command as a service principal that holds nothing but
// mngr-operator on the resource group: create, list, the agent mirror,
// stop, start, destroy and gc all succeed, the VM gets the shared identity
// without any role assignment, and azsim refused none of the operator's
// calls but the subscription-wide status list that list falls back from.
// The operator cannot assign roles. The shared identity's token deallocates
// a VM of the group (idle self-deallocate) and can do nothing else.
func TestAzsimOperatorJourney(t *testing.T) {
	e := newFaultEnv(t)
	ctx := t.Context()
	owner := e.clientAs(e.ep.ClientID, e.ep.ClientSecret, e.ep.SubscriptionID)
	res, err := owner.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range res.Resources {
		kinds[r.Kind+" "+r.Name] = r.Created
	}
	for _, want := range []string{"managed-identity " + identityName, "role-assignment " + roleName + " for " + identityName, "role-definition " + operatorRoleName} {
		if !kinds[want] {
			t.Errorf("prepare did not create %s: %v (warnings %v)", want, kinds, res.Warnings)
		}
	}

	var sp struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		ObjectID     string `json:"object_id"`
	}
	e.adminJSON("/principals", &sp)
	opRole, found, err := owner.findCustomRole(ctx, operatorRole)
	if err != nil || !found {
		t.Fatalf("find %s: %v %v", operatorRoleName, found, err)
	}
	rg := owner.rgScope()
	if _, err := owner.roles.Create(ctx, rg, deterministicGUID(rg, sp.ObjectID, operatorRoleName), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(sp.ObjectID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		RoleDefinitionID: to.Ptr("/subscriptions/" + e.ep.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + *opRole.Name)}}, nil); err != nil {
		t.Fatalf("assign %s on %s: %v", operatorRoleName, rg, err)
	}
	roleAssignments := e.counts()["role"] // the identity's and the operator's

	op := e.clientAs(sp.ClientID, sp.ClientSecret, e.ep.SubscriptionID)
	pa, _, err := op.ParseBuildArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := func(name string) vps.CreateInstanceRequest {
		return vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: name, UserData: []byte("#cloud-config\n"),
			AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa}
	}

	// create
	prog := &recordingProgress{}
	inst, err := op.CreateInstance(core.WithProgress(ctx, prog), req("daily"))
	if err != nil {
		t.Fatalf("create as operator: %v", err)
	}
	if len(prog.warnings) != 0 {
		t.Errorf("create warned: %v", prog.warnings)
	}
	if n := e.counts()["role"]; n != roleAssignments {
		t.Errorf("azsim holds %d role assignments after create, want %d (create assigns none)", n, roleAssignments)
	}
	vm := vmOf(t, owner, inst.ID)
	if vm.Identity == nil || vm.Identity.Type == nil || *vm.Identity.Type != armcompute.ResourceIdentityTypeUserAssigned {
		t.Fatalf("VM identity %+v, want UserAssigned", vm.Identity)
	}
	var principal string
	for id, u := range vm.Identity.UserAssignedIdentities {
		if !strings.EqualFold(id, owner.identityResourceID()) || u == nil || u.PrincipalID == nil {
			t.Fatalf("VM identity %s %+v, want %s", id, u, owner.identityResourceID())
		}
		principal = *u.PrincipalID
	}
	if inst.Tags[tagSelfDealloc] == "disabled" {
		t.Errorf("self-deallocate disabled on %+v", inst.Tags)
	}

	// list, the agent mirror, stop, start
	all, err := op.ListInstances(ctx)
	if err != nil || len(all) != 1 || all[0].HostID != inst.HostID || all[0].Status != vps.StatusActive {
		t.Fatalf("list as operator: %+v %v", all, err)
	}
	if err := op.MirrorAgents(ctx, inst.HostID, []core.AgentRecord{{ID: core.NewAgentID(), Name: "a1"}}); err != nil {
		t.Fatalf("agent mirror as operator: %v", err)
	}
	if err := op.StopInstance(ctx, inst.HostID); err != nil {
		t.Fatalf("stop as operator: %v", err)
	}
	if got, err := op.GetInstance(ctx, inst.HostID); err != nil || got.Status != vps.StatusStopped {
		t.Fatalf("after stop: %+v %v", got, err)
	}
	if _, err := op.StartInstance(ctx, inst.HostID); err != nil {
		t.Fatalf("start as operator: %v", err)
	}

	// The shared identity's token (what IMDS gives the VM) deallocates a
	// VM of the group: this one, and — the documented trade-off — any
	// other; it cannot delete or write anything.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(e.admin(http.MethodPost, "/identity/token", `{"principal_id":"`+principal+`","resource":"`+e.ep.Audience+`"}`), &tok); err != nil {
		t.Fatal(err)
	}
	armCall := func(method, path string) int {
		r, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(e.ep.ARM, "/")+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := e.hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := armCall(http.MethodPost, inst.ID+"/deallocate?api-version="+selfStopAPIVersion); code != http.StatusAccepted && code != http.StatusOK {
		t.Errorf("the identity's deallocate of its VM: HTTP %d, want 202", code)
	}
	if code := armCall(http.MethodDelete, inst.ID+"?api-version=2026-04-01"); code != http.StatusForbidden {
		t.Errorf("the identity's delete of a VM: HTTP %d, want 403", code)
	}
	waitStatus(t, op, inst.HostID, vps.StatusStopped)
	if _, err := op.StartInstance(ctx, inst.HostID); err != nil {
		t.Fatalf("start as operator: %v", err)
	}

	// destroy
	if err := op.DestroyInstance(ctx, inst.HostID); err != nil {
		t.Fatalf("destroy as operator: %v", err)
	}

	// gc: an unattached mngr NIC left behind long ago is removed.
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	leftover := VMSpec{Region: owner.cfg.DefaultRegion, SubnetID: owner.subnetID(), NetBase: "mngr-leftover",
		Tags: map[string]*string{tagManagedBy: to.Ptr(tagManagedByMngr), tagProvider: to.Ptr("azure"), tagCreatedAt: to.Ptr(old)}}
	if _, err := awaitLRO(ctx, owner, "", func() (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error) {
		return owner.nics.BeginCreateOrUpdate(ctx, owner.cfg.ResourceGroup, leftover.NICName(), leftover.NICParameters(), nil)
	}, nil); err != nil {
		t.Fatal(err)
	}
	items, err := op.CollectGarbage(ctx, false)
	if err != nil {
		t.Fatalf("gc as operator: %v", err)
	}
	if len(items) != 1 || items[0].Name != leftover.NICName() || !items[0].Done {
		t.Errorf("gc items %+v, want the leftover NIC removed", items)
	}

	// The operator cannot grant anything.
	_, err = op.roles.Create(ctx, rg, deterministicGUID(rg, sp.ObjectID, "escalate"), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		PrincipalID: to.Ptr(sp.ObjectID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		RoleDefinitionID: to.Ptr("/subscriptions/" + e.ep.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + ownerRoleGUID)}}, nil)
	if errorCode(err) != "AuthorizationFailed" {
		t.Errorf("operator's Owner assignment to itself: %v, want AuthorizationFailed", err)
	}

	// Nothing the daily commands did needed more than mngr-operator.
	listAll := "/subscriptions/" + e.ep.SubscriptionID + "/providers/Microsoft.Compute/virtualMachines"
	var refused []string
	n := 0
	for _, l := range requestsBy(t, e.dir, sp.ObjectID) {
		n++
		if l.Status < 400 {
			continue
		}
		if l.Method == http.MethodPut && strings.Contains(l.Path, "/roleAssignments/"+deterministicGUID(rg, sp.ObjectID, "escalate")) {
			continue // the probe above
		}
		if l.Method == http.MethodGet && strings.EqualFold(l.Path, listAll) && l.Status == http.StatusForbidden {
			continue // list falls back to instance views at group scope
		}
		refused = append(refused, l.Method+" "+l.Path+" "+strconv.Itoa(l.Status))
	}
	if n < 20 || len(refused) > 0 {
		t.Errorf("%d operator requests; refused: %v", n, refused)
	}
	if !slices.ContainsFunc(requestsBy(t, e.dir, sp.ObjectID), func(l loggedRequest) bool {
		return l.Method == http.MethodGet && strings.HasSuffix(l.Path, "/userAssignedIdentities/"+identityName) && l.Status == http.StatusOK
	}) {
		t.Error("the operator never read the shared identity")
	}
}

// ownerRoleGUID is the built-in Owner role.
const ownerRoleGUID = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"

// vmOf reads the VM with resource id id through the owner's group list.
func vmOf(t *testing.T, c *Client, id string) armcompute.VirtualMachine {
	t.Helper()
	p := c.vms.NewListPager(c.cfg.ResourceGroup, nil)
	for p.More() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, vm := range page.Value {
			if vm != nil && strings.EqualFold(deref(vm.ID), id) {
				return *vm
			}
		}
	}
	t.Fatalf("no VM %s", id)
	return armcompute.VirtualMachine{}
}

// waitStatus waits (bounded) until the host's VM shows want.
func waitStatus(t *testing.T, c *Client, id core.HostID, want vps.InstanceStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		got, err := c.GetInstance(ctx, id)
		if err == nil && got.Status == want {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("host %s: %+v %v, want %s", id, got, err, want)
		}
		time.Sleep(50 * time.Millisecond) // polling azsim's deallocation
	}
}
