package azure

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

// infraFakes is a tiny stateful ARM for prepare/cleanup.
type infraFakes struct {
	f        *fakeARM
	exists   map[string]bool
	rgTags   map[string]*string
	nsg      armnetwork.SecurityGroup
	subnet   armnetwork.Subnet
	role     armauthorization.RoleDefinition
	vms      []*armcompute.VirtualMachine
	rgDelete int
	// roleWrites are the scopes role definitions were written (or deleted) at.
	roleWrites []string
	// hiddenRole makes a same-named role exist where list cannot see it.
	hiddenRole bool
	// operator is the mngr-operator role (x.exists["operator"]); its
	// writes are kept apart from the self-deallocate role's roleWrites.
	operator       armauthorization.RoleDefinition
	operatorWrites []string
	// identity is the shared managed identity (x.exists["identity"]).
	identity armmsi.Identity
	// assignments are the role assignments by scope/name.
	assignments map[string]armauthorization.RoleAssignmentCreateParameters
}

func newInfraFakes(roleStatus int) *infraFakes {
	x := &infraFakes{f: &fakeARM{}, exists: map[string]bool{}, assignments: map[string]armauthorization.RoleAssignmentCreateParameters{}}
	notFound := func(e *azfake.ErrorResponder) { e.SetResponseError(http.StatusNotFound, "NotFound") }
	x.f.resources.ProvidersServer.Get = func(_ context.Context, ns string, _ *armresources.ProvidersClientGetOptions) (resp azfake.Responder[armresources.ProvidersClientGetResponse], errResp azfake.ErrorResponder) {
		state := "NotRegistered"
		if x.exists["rp "+ns] {
			state = "Registered"
		}
		resp.SetResponse(http.StatusOK, armresources.ProvidersClientGetResponse{Provider: armresources.Provider{Namespace: to.Ptr(ns), RegistrationState: to.Ptr(state)}}, nil)
		return
	}
	x.f.resources.ProvidersServer.Register = func(_ context.Context, ns string, _ *armresources.ProvidersClientRegisterOptions) (resp azfake.Responder[armresources.ProvidersClientRegisterResponse], errResp azfake.ErrorResponder) {
		x.exists["rp "+ns] = true
		resp.SetResponse(http.StatusOK, armresources.ProvidersClientRegisterResponse{}, nil)
		return
	}
	x.f.resources.ResourceGroupsServer.Get = func(_ context.Context, rg string, _ *armresources.ResourceGroupsClientGetOptions) (resp azfake.Responder[armresources.ResourceGroupsClientGetResponse], errResp azfake.ErrorResponder) {
		if !x.exists["rg"] {
			notFound(&errResp)
			return
		}
		resp.SetResponse(http.StatusOK, armresources.ResourceGroupsClientGetResponse{ResourceGroup: armresources.ResourceGroup{ID: to.Ptr("/subscriptions/" + fakeSubscription + "/resourceGroups/" + rg), Tags: x.rgTags}}, nil)
		return
	}
	x.f.resources.ResourceGroupsServer.CreateOrUpdate = func(_ context.Context, rg string, p armresources.ResourceGroup, _ *armresources.ResourceGroupsClientCreateOrUpdateOptions) (resp azfake.Responder[armresources.ResourceGroupsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		x.exists["rg"], x.rgTags = true, p.Tags
		p.ID = to.Ptr("/subscriptions/" + fakeSubscription + "/resourceGroups/" + rg)
		resp.SetResponse(http.StatusCreated, armresources.ResourceGroupsClientCreateOrUpdateResponse{ResourceGroup: p}, nil)
		return
	}
	x.f.resources.ResourceGroupsServer.BeginDelete = func(_ context.Context, _ string, _ *armresources.ResourceGroupsClientBeginDeleteOptions) (resp azfake.PollerResponder[armresources.ResourceGroupsClientDeleteResponse], errResp azfake.ErrorResponder) {
		x.rgDelete++
		// The group's resources go; the roles live in the directory.
		x.exists = map[string]bool{"role": x.exists["role"], "operator": x.exists["operator"]}
		resp.SetTerminalResponse(http.StatusOK, armresources.ResourceGroupsClientDeleteResponse{}, nil)
		return
	}
	x.f.network.SecurityGroupsServer.Get = func(_ context.Context, _, name string, _ *armnetwork.SecurityGroupsClientGetOptions) (resp azfake.Responder[armnetwork.SecurityGroupsClientGetResponse], errResp azfake.ErrorResponder) {
		if !x.exists["nsg"] {
			notFound(&errResp)
			return
		}
		resp.SetResponse(http.StatusOK, armnetwork.SecurityGroupsClientGetResponse{SecurityGroup: x.nsg}, nil)
		return
	}
	x.f.network.SecurityGroupsServer.BeginCreateOrUpdate = func(_ context.Context, _, name string, p armnetwork.SecurityGroup, _ *armnetwork.SecurityGroupsClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armnetwork.SecurityGroupsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		p.ID = to.Ptr("/nsg/" + name)
		x.exists["nsg"], x.nsg = true, p
		resp.SetTerminalResponse(http.StatusOK, armnetwork.SecurityGroupsClientCreateOrUpdateResponse{SecurityGroup: p}, nil)
		return
	}
	x.f.network.VirtualNetworksServer.Get = func(_ context.Context, _, name string, _ *armnetwork.VirtualNetworksClientGetOptions) (resp azfake.Responder[armnetwork.VirtualNetworksClientGetResponse], errResp azfake.ErrorResponder) {
		if !x.exists["vnet"] {
			notFound(&errResp)
			return
		}
		resp.SetResponse(http.StatusOK, armnetwork.VirtualNetworksClientGetResponse{VirtualNetwork: armnetwork.VirtualNetwork{ID: to.Ptr("/vnet/" + name)}}, nil)
		return
	}
	x.f.network.VirtualNetworksServer.BeginCreateOrUpdate = func(_ context.Context, _, name string, p armnetwork.VirtualNetwork, _ *armnetwork.VirtualNetworksClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armnetwork.VirtualNetworksClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		x.exists["vnet"], x.exists["subnet"] = true, true
		x.subnet = *p.Properties.Subnets[0]
		p.ID = to.Ptr("/vnet/" + name)
		resp.SetTerminalResponse(http.StatusOK, armnetwork.VirtualNetworksClientCreateOrUpdateResponse{VirtualNetwork: p}, nil)
		return
	}
	x.f.network.SubnetsServer.Get = func(_ context.Context, _, _, name string, _ *armnetwork.SubnetsClientGetOptions) (resp azfake.Responder[armnetwork.SubnetsClientGetResponse], errResp azfake.ErrorResponder) {
		if !x.exists["subnet"] {
			notFound(&errResp)
			return
		}
		resp.SetResponse(http.StatusOK, armnetwork.SubnetsClientGetResponse{Subnet: armnetwork.Subnet{ID: to.Ptr("/subnet/" + name)}}, nil)
		return
	}
	x.f.authz.RoleDefinitionsServer.Get = func(_ context.Context, _, id string, _ *armauthorization.RoleDefinitionsClientGetOptions) (resp azfake.Responder[armauthorization.RoleDefinitionsClientGetResponse], errResp azfake.ErrorResponder) {
		if !x.exists["role"] {
			notFound(&errResp)
			return
		}
		resp.SetResponse(http.StatusOK, armauthorization.RoleDefinitionsClientGetResponse{RoleDefinition: armauthorization.RoleDefinition{ID: to.Ptr("/role/" + id)}}, nil)
		return
	}
	x.f.authz.RoleDefinitionsServer.NewListPager = func(scope string, o *armauthorization.RoleDefinitionsClientListOptions) (resp azfake.PagerResponder[armauthorization.RoleDefinitionsClientListResponse]) {
		var out []*armauthorization.RoleDefinition
		if scope == tenantRootMarker && x.exists["role"] && o != nil && *o.Filter == "roleName eq '"+roleName+"'" {
			r := x.role
			out = append(out, &r)
		}
		if scope == tenantRootMarker && x.exists["operator"] && o != nil && *o.Filter == "roleName eq '"+operatorRoleName+"'" {
			r := x.operator
			out = append(out, &r)
		}
		resp.AddPage(http.StatusOK, armauthorization.RoleDefinitionsClientListResponse{RoleDefinitionListResult: armauthorization.RoleDefinitionListResult{Value: out}}, nil)
		return
	}
	x.f.authz.RoleDefinitionsServer.CreateOrUpdate = func(_ context.Context, scope, id string, p armauthorization.RoleDefinition, _ *armauthorization.RoleDefinitionsClientCreateOrUpdateOptions) (resp azfake.Responder[armauthorization.RoleDefinitionsClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		if roleStatus == http.StatusForbidden {
			errResp.SetResponseError(http.StatusForbidden, "AuthorizationFailed")
			return
		}
		// Azure names a role by the subscription it was written in.
		home := "/" + strings.Join(strings.SplitN(strings.TrimPrefix(scope, "/"), "/", 3)[:2], "/")
		p.ID, p.Name = to.Ptr(home+"/providers/Microsoft.Authorization/roleDefinitions/"+id), to.Ptr(id)
		if *p.Properties.RoleName == operatorRoleName {
			x.operatorWrites = append(x.operatorWrites, "PUT "+scope)
			x.exists["operator"], x.operator = true, p
			resp.SetResponse(http.StatusCreated, armauthorization.RoleDefinitionsClientCreateOrUpdateResponse{RoleDefinition: p}, nil)
			return
		}
		if x.hiddenRole {
			errResp.SetResponseError(http.StatusConflict, "RoleDefinitionWithSameNameExists")
			return
		}
		x.roleWrites = append(x.roleWrites, "PUT "+scope)
		x.exists["role"], x.role = true, p
		resp.SetResponse(http.StatusCreated, armauthorization.RoleDefinitionsClientCreateOrUpdateResponse{RoleDefinition: p}, nil)
		return
	}
	x.f.authz.RoleDefinitionsServer.Delete = func(_ context.Context, scope, id string, _ *armauthorization.RoleDefinitionsClientDeleteOptions) (resp azfake.Responder[armauthorization.RoleDefinitionsClientDeleteResponse], errResp azfake.ErrorResponder) {
		if x.operator.Name != nil && id == *x.operator.Name {
			x.operatorWrites = append(x.operatorWrites, "DELETE "+scope)
			x.exists["operator"] = false
			resp.SetResponse(http.StatusOK, armauthorization.RoleDefinitionsClientDeleteResponse{}, nil)
			return
		}
		x.roleWrites = append(x.roleWrites, "DELETE "+scope)
		x.exists["role"] = false
		resp.SetResponse(http.StatusOK, armauthorization.RoleDefinitionsClientDeleteResponse{}, nil)
		return
	}
	x.f.msi.UserAssignedIdentitiesServer.Get = func(_ context.Context, _, _ string, _ *armmsi.UserAssignedIdentitiesClientGetOptions) (resp azfake.Responder[armmsi.UserAssignedIdentitiesClientGetResponse], errResp azfake.ErrorResponder) {
		if !x.exists["identity"] {
			notFound(&errResp)
			return
		}
		resp.SetResponse(http.StatusOK, armmsi.UserAssignedIdentitiesClientGetResponse{Identity: x.identity}, nil)
		return
	}
	x.f.msi.UserAssignedIdentitiesServer.CreateOrUpdate = func(_ context.Context, rg, name string, p armmsi.Identity, _ *armmsi.UserAssignedIdentitiesClientCreateOrUpdateOptions) (resp azfake.Responder[armmsi.UserAssignedIdentitiesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		p.ID = to.Ptr("/subscriptions/" + fakeSubscription + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name)
		p.Properties = &armmsi.UserAssignedIdentityProperties{PrincipalID: to.Ptr("22222222-0000-4000-8000-000000000002"), ClientID: to.Ptr("33333333-0000-4000-8000-000000000003")}
		x.exists["identity"], x.identity = true, p
		resp.SetResponse(http.StatusCreated, armmsi.UserAssignedIdentitiesClientCreateOrUpdateResponse{Identity: p}, nil)
		return
	}
	x.f.msi.UserAssignedIdentitiesServer.Delete = func(context.Context, string, string, *armmsi.UserAssignedIdentitiesClientDeleteOptions) (resp azfake.Responder[armmsi.UserAssignedIdentitiesClientDeleteResponse], errResp azfake.ErrorResponder) {
		x.exists["identity"] = false
		resp.SetResponse(http.StatusOK, armmsi.UserAssignedIdentitiesClientDeleteResponse{}, nil)
		return
	}
	x.f.authz.RoleAssignmentsServer.Create = func(_ context.Context, scope, name string, p armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
		if roleStatus == http.StatusForbidden {
			errResp.SetResponseError(http.StatusForbidden, "AuthorizationFailed")
			return
		}
		if _, ok := x.assignments[scope+"/"+name]; ok {
			errResp.SetResponseError(http.StatusConflict, "RoleAssignmentExists")
			return
		}
		x.assignments[scope+"/"+name] = p
		resp.SetResponse(http.StatusCreated, armauthorization.RoleAssignmentsClientCreateResponse{}, nil)
		return
	}
	x.f.authz.RoleAssignmentsServer.Get = func(_ context.Context, scope, name string, _ *armauthorization.RoleAssignmentsClientGetOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientGetResponse], errResp azfake.ErrorResponder) {
		if _, ok := x.assignments[scope+"/"+name]; !ok {
			errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentNotFound")
			return
		}
		resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentsClientGetResponse{}, nil)
		return
	}
	x.f.authz.RoleAssignmentsServer.Delete = func(_ context.Context, scope, name string, _ *armauthorization.RoleAssignmentsClientDeleteOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientDeleteResponse], errResp azfake.ErrorResponder) {
		if _, ok := x.assignments[scope+"/"+name]; !ok {
			errResp.SetResponseError(http.StatusNotFound, "RoleAssignmentNotFound")
			return
		}
		delete(x.assignments, scope+"/"+name)
		resp.SetResponse(http.StatusOK, armauthorization.RoleAssignmentsClientDeleteResponse{}, nil)
		return
	}
	x.f.compute.VirtualMachinesServer.NewListPager = func(string, *armcompute.VirtualMachinesClientListOptions) (resp azfake.PagerResponder[armcompute.VirtualMachinesClientListResponse]) {
		resp.AddPage(http.StatusOK, armcompute.VirtualMachinesClientListResponse{VirtualMachineListResult: armcompute.VirtualMachineListResult{Value: x.vms}}, nil)
		return
	}
	return x
}

func createdFlags(res PrepareResult) map[string]bool {
	out := map[string]bool{}
	for _, r := range res.Resources {
		out[r.Kind+" "+r.Name] = r.Created
	}
	return out
}

func TestPrepareIdempotent(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	first, err := c.Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The subnet comes with the new vnet: created, not found existing.
	want := map[string]bool{"resource-provider Microsoft.Compute": true, "resource-provider Microsoft.Network": true,
		"resource-provider Microsoft.ManagedIdentity": true,
		"resource-group mngr":                         true, "network-security-group mngr-nsg": true, "virtual-network mngr-vnet": true, "subnet mngr-subnet": true, "role-definition mngr-self-deallocate": true,
		"managed-identity mngr-vm-identity": true, "role-assignment mngr-self-deallocate for mngr-vm-identity": true, "role-definition mngr-operator": true}
	if d := cmp.Diff(want, createdFlags(first)); d != "" {
		t.Errorf("first run (-want +got)\n%s", d)
	}
	if len(first.Warnings) != 1 || !strings.Contains(first.Warnings[0], "0.0.0.0/0") {
		t.Errorf("warnings %v: want the 0.0.0.0/0 warning", first.Warnings)
	}
	if *x.rgTags[tagManagedBy] != "mngr" || *x.subnet.Properties.NetworkSecurityGroup.ID != "/nsg/mngr-nsg" || len(x.nsg.Properties.SecurityRules) != 2 {
		t.Errorf("rg tags %v, subnet %+v, nsg rules %d", x.rgTags, x.subnet.Properties, len(x.nsg.Properties.SecurityRules))
	}
	second, err := c.Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, created := range createdFlags(second) {
		if created {
			t.Errorf("second run created %s", k)
		}
	}
}

// A refused role write is a warning, and its step reports failed, not done.
func TestPrepareRoleForbiddenDegradesToWarning(t *testing.T) {
	x := newInfraFakes(http.StatusForbidden)
	prog := &recordingProgress{}
	res, err := newFakeClient(t, x.f).Prepare(core.WithProgress(t.Context(), prog), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Without the role the identity is made but not assigned it; the
	// operator role is refused too.
	flags := createdFlags(res)
	_, role := flags["role-definition mngr-self-deallocate"]
	_, assigned := flags["role-assignment mngr-self-deallocate for mngr-vm-identity"]
	if role || assigned || !flags["managed-identity mngr-vm-identity"] || len(res.Warnings) != 3 ||
		!strings.Contains(res.Warnings[1], "self-deallocate is disabled") || !strings.Contains(res.Warnings[2], "--print-role") {
		t.Fatalf("resources %v warnings %v", createdFlags(res), res.Warnings)
	}
	if d := cmp.Diff([]string{"preparing custom role " + roleName, "preparing custom role " + operatorRoleName}, prog.failed); d != "" {
		t.Errorf("failed steps (-want +got)\n%s", d)
	}
}

func TestCleanup(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	if res, err := c.Cleanup(t.Context()); err != nil || res.Existed {
		t.Fatalf("absent group: %+v %v", res, err)
	}
	if _, err := c.Prepare(t.Context(), PrepareOptions{}); err != nil {
		t.Fatal(err)
	}
	withAgent := map[string]*string{tagManagedBy: to.Ptr("mngr"), tagHostName: to.Ptr("my-agent-host")}
	for k, v := range encodeAgentTags([]core.AgentRecord{{ID: core.NewAgentID(), Name: "my-agent"}}) {
		withAgent[k] = to.Ptr(v)
	}
	x.vms = []*armcompute.VirtualMachine{{Name: to.Ptr("vm1"), Tags: withAgent}}
	_, err := c.Cleanup(t.Context())
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "my-agent") || !strings.Contains(core.HintOf(err), "mngr destroy -f my-agent") || x.rgDelete != 0 {
		t.Fatalf("with a VM: %v (hint %q), deletes %d", err, core.HintOf(err), x.rgDelete)
	}
	// A VM without any agent (an interrupted create) is not an agent to
	// destroy: the hint is gc, and it names the VM.
	x.vms = []*armcompute.VirtualMachine{{Name: to.Ptr("mngr-orphan-host-0123abcd"), Tags: map[string]*string{tagManagedBy: to.Ptr("mngr"), tagHostName: to.Ptr("orphan-host")}}}
	_, err = c.Cleanup(t.Context())
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "mngr-orphan-host-0123abcd") ||
		strings.Contains(core.HintOf(err), "mngr destroy") || !strings.Contains(core.HintOf(err), "mngr gc --provider") || x.rgDelete != 0 {
		t.Fatalf("with an agentless VM: %v (hint %q), deletes %d", err, core.HintOf(err), x.rgDelete)
	}
	x.vms = nil
	x.rgTags = map[string]*string{"owner": to.Ptr("someone")}
	if _, err := c.Cleanup(t.Context()); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "managed-by=mngr") {
		t.Fatalf("foreign group: %v", err)
	}
	x.rgTags = managedTags("azure")
	res, err := c.Cleanup(t.Context())
	if err != nil || !res.Deleted || x.rgDelete != 1 {
		t.Fatalf("cleanup: %+v %v deletes %d", res, err, x.rgDelete)
	}
}

func TestPrepareFollowsChangedSSHCIDRs(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	if _, err := c.Prepare(t.Context(), PrepareOptions{}); err != nil {
		t.Fatal(err)
	}
	// The user's own rule on the NSG must survive mngr's updates.
	own := &armnetwork.SecurityRule{Name: to.Ptr("team-https"), Properties: &armnetwork.SecurityRulePropertiesFormat{
		Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
		Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound), Priority: to.Ptr(int32(2000)),
		SourceAddressPrefix: to.Ptr("10.0.0.0/8"), DestinationPortRange: to.Ptr("443")}}
	x.nsg.Properties.SecurityRules = append(x.nsg.Properties.SecurityRules, own)

	sources := func() map[string][]string {
		out := map[string][]string{}
		for _, r := range x.nsg.Properties.SecurityRules {
			p := r.Properties
			if p.SourceAddressPrefix != nil {
				out[*r.Name] = append(out[*r.Name], *p.SourceAddressPrefix)
			}
			for _, s := range p.SourceAddressPrefixes {
				out[*r.Name] = append(out[*r.Name], *s)
			}
		}
		return out
	}

	// Same config: nothing to update.
	res, err := c.Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Resources {
		if r.Updated {
			t.Errorf("unchanged config updated %s %s", r.Kind, r.Name)
		}
	}

	// Narrowed CIDRs: mngr's two rules follow, the user's rule stays.
	c.cfg.AllowedSSHCIDRs = &[]string{"203.0.113.0/24", "198.51.100.7/32"}
	res, err = c.Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"mngr-allow-ssh":           {"203.0.113.0/24", "198.51.100.7/32"},
		"mngr-allow-container-ssh": {"203.0.113.0/24", "198.51.100.7/32"},
		"team-https":               {"10.0.0.0/8"},
	}
	if d := cmp.Diff(want, sources()); d != "" {
		t.Errorf("NSG rule sources (-want +got)\n%s", d)
	}
	updated := false
	for _, r := range res.Resources {
		updated = updated || (r.Kind == "network-security-group" && r.Updated && !r.Created)
	}
	if !updated {
		t.Errorf("resources %+v: want the NSG reported updated", res.Resources)
	}

	// An emptied list removes mngr's allow rules (and keeps the user's).
	c.cfg.AllowedSSHCIDRs = &[]string{}
	if _, err := c.Prepare(t.Context(), PrepareOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string][]string{"team-https": {"10.0.0.0/8"}}, sources()); d != "" {
		t.Errorf("NSG rule sources after emptying the list (-want +got)\n%s", d)
	}
}

// A second subscription of the tenant finds the role the first one created
// (role names are unique per directory), adds its own group at the role's
// first assignable scope and keeps the other group; its cleanup takes only
// its own group out again.
func TestPrepareExtendsTheDirectorysRole(t *testing.T) {
	other := "/subscriptions/other/resourceGroups/mngr"
	mine := "/subscriptions/" + fakeSubscription + "/resourceGroups/mngr"
	// The generated fake hands scopes over without their leading "/".
	otherPUT := "PUT subscriptions/other/resourceGroups/mngr"
	x := newInfraFakes(http.StatusCreated)
	x.exists["role"] = true
	x.role = armauthorization.RoleDefinition{ID: to.Ptr("/subscriptions/other/providers/Microsoft.Authorization/roleDefinitions/1b2c0000-0000-4000-8000-000000000001"),
		Name:       to.Ptr("1b2c0000-0000-4000-8000-000000000001"),
		Properties: &armauthorization.RoleDefinitionProperties{RoleName: to.Ptr(roleName), AssignableScopes: []*string{to.Ptr(other)}}}
	c := newFakeClient(t, x.f)
	res, err := c.Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created, ok := createdFlags(res)["role-definition "+roleName]; !ok || created {
		t.Errorf("role reported %v (present %v), want reused", created, ok)
	}
	if d := cmp.Diff([]string{otherPUT}, x.roleWrites); d != "" {
		t.Errorf("role writes (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{other, mine}, roleScopes(x.role)); d != "" {
		t.Errorf("assignable scopes (-want +got)\n%s", d)
	}
	if *x.role.Name != "1b2c0000-0000-4000-8000-000000000001" {
		t.Errorf("the role was written under a new id %s", *x.role.Name)
	}
	id, err := c.selfDeallocRoleID(t.Context())
	if want := "/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.Authorization/roleDefinitions/1b2c0000-0000-4000-8000-000000000001"; err != nil || id != want {
		t.Errorf("role id for assignments %q (%v), want %q", id, err, want)
	}
	// A second prepare finds its group there already: no write.
	x.roleWrites = nil
	if _, err := c.Prepare(t.Context(), PrepareOptions{}); err != nil || len(x.roleWrites) != 0 {
		t.Fatalf("second prepare: %v, role writes %v", err, x.roleWrites)
	}
	x.rgTags = managedTags("azure")
	if _, err := c.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{otherPUT}, x.roleWrites); d != "" {
		t.Errorf("cleanup role writes (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{other}, roleScopes(x.role)); d != "" {
		t.Errorf("assignable scopes after cleanup (-want +got)\n%s", d)
	}
}

// A same-named role this identity cannot list makes the create a 409: the
// rest of prepare stands, with a warning that names the way out.
func TestPrepareInvisibleRoleDegradesToWarning(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	x.hiddenRole = true
	res, err := newFakeClient(t, x.f).Prepare(t.Context(), PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[1], "self-deallocate is disabled") || !strings.Contains(res.Warnings[1], "assignableScopes") {
		t.Fatalf("warnings %v", res.Warnings)
	}
}

// The last group leaving the role deletes it, at the role's own scope.
func TestCleanupDeletesTheRoleWithItsLastGroup(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	if _, err := c.Prepare(t.Context(), PrepareOptions{}); err != nil {
		t.Fatal(err)
	}
	x.roleWrites = nil
	if _, err := c.Cleanup(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"DELETE subscriptions/" + fakeSubscription}, x.roleWrites); d != "" {
		t.Errorf("role writes (-want +got)\n%s", d)
	}
}

// Re-running prepare never widens the SSH rules of an existing NSG unless
// told: without allowed_ssh_cidrs anywhere the rules stay as they are; a
// block value that widens them is refused (or confirmed on a terminal);
// --allowed-ssh-cidr widens them.
func TestPrepareNeverWidensUnlessTold(t *testing.T) {
	x := newInfraFakes(http.StatusCreated)
	c := newFakeClient(t, x.f)
	narrow := []string{"203.0.113.4/32"}
	c.cfg.AllowedSSHCIDRs = &narrow
	if _, err := c.Prepare(t.Context(), PrepareOptions{CIDRSource: CIDRsFromFlag}); err != nil {
		t.Fatal(err)
	}
	sources := func() []string {
		s, _ := mngrRuleSources(x.nsg)
		return s
	}
	wide := []string{core.DefaultAllowedSSHCIDR}
	var asked [][]string
	tests := []struct {
		name    string
		src     CIDRSource
		confirm func(from, to []string) bool
		wantErr bool
		want    []string
	}{
		{"default keeps the narrow rules", CIDRsDefault, nil, false, narrow},
		{"settings that widen are refused", CIDRsFromSettings, nil, true, narrow},
		{"settings that widen, declined on a terminal", CIDRsFromSettings, func(from, to []string) bool { asked = append(asked, from, to); return false }, true, narrow},
		{"settings that widen, confirmed on a terminal", CIDRsFromSettings, func([]string, []string) bool { return true }, false, wide},
		{"the flag narrows", CIDRsFromFlag, nil, false, narrow},
		{"the flag widens", CIDRsFromFlag, nil, false, wide},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cidrs := wide
			if tt.name == "the flag narrows" {
				cidrs = narrow
			}
			c.cfg.AllowedSSHCIDRs = &cidrs
			_, err := c.Prepare(t.Context(), PrepareOptions{CIDRSource: tt.src, ConfirmWiden: tt.confirm})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (!errors.Is(err, core.ErrInvalidInput) || !strings.Contains(core.HintOf(err), "--allowed-ssh-cidr 0.0.0.0/0")) {
				t.Errorf("refusal %v (hint %q)", err, core.HintOf(err))
			}
			if d := cmp.Diff(tt.want, sources()); d != "" {
				t.Errorf("rule sources (-want +got)\n%s", d)
			}
		})
	}
	if d := cmp.Diff([][]string{narrow, wide}, asked); d != "" {
		t.Errorf("confirmation asked (-want +got)\n%s", d)
	}
}

func TestWidens(t *testing.T) {
	tests := []struct {
		have, want []string
		widens     bool
	}{
		{[]string{"0.0.0.0/0"}, []string{"203.0.113.4/32"}, false},
		{[]string{"203.0.113.0/24"}, []string{"203.0.113.4/32", "203.0.113.0/25"}, false},
		{[]string{"203.0.113.4/32"}, []string{"203.0.113.0/24"}, true},
		{[]string{"203.0.113.4/32"}, []string{"0.0.0.0/0"}, true},
		{nil, []string{"203.0.113.4/32"}, true},
		{[]string{"203.0.113.4/32"}, nil, false},
		{[]string{"0.0.0.0/0"}, []string{"2001:db8::/32"}, true},
	}
	for _, tt := range tests {
		if got := widens(tt.have, tt.want); got != tt.widens {
			t.Errorf("widens(%v, %v) = %v, want %v", tt.have, tt.want, got, tt.widens)
		}
	}
}
