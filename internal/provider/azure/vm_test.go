package azure

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
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
	"github.com/mngr-azure/mngr/internal/vps"
)

const testHost = core.HostID("host-0123456789abcdef0123456789abcdef")

// createFakes wires public IP, NIC and VM creation; vmErr fails the VM PUT's LRO.
type createFakes struct {
	f          *fakeARM
	vm         armcompute.VirtualMachine
	nic        armnetwork.Interface
	ip         armnetwork.PublicIPAddress
	deleted    []string
	tagPatches []armresources.TagsPatchResource
	// roleAssignments are the scopes a create tried to assign a role at.
	roleAssignments []string
	identityGets    int
}

// newCreateFakes serves a create. identityStatus is the answer to the GET
// of the shared identity: a 2xx finds it, anything else is that error.
func newCreateFakes(vmErrCode string, nicDeleteCode string, identityStatus int) *createFakes {
	cf := &createFakes{f: &fakeARM{}}
	// The region's SKU list, read before the first write for the image's
	// generation check: empty, so no size is refused (tests that need SKUs
	// serve their own).
	cf.f.compute.ResourceSKUsServer.NewListPager = func(*armcompute.ResourceSKUsClientListOptions) (resp azfake.PagerResponder[armcompute.ResourceSKUsClientListResponse]) {
		resp.AddPage(http.StatusOK, armcompute.ResourceSKUsClientListResponse{}, nil)
		return
	}
	cf.f.msi.UserAssignedIdentitiesServer.Get = func(_ context.Context, rg, name string, _ *armmsi.UserAssignedIdentitiesClientGetOptions) (resp azfake.Responder[armmsi.UserAssignedIdentitiesClientGetResponse], errResp azfake.ErrorResponder) {
		cf.identityGets++
		if identityStatus >= 300 {
			errResp.SetResponseError(identityStatus, map[int]string{403: "AuthorizationFailed", 404: "ResourceNotFound"}[identityStatus])
			return
		}
		id := "/subscriptions/" + fakeSubscription + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
		resp.SetResponse(http.StatusOK, armmsi.UserAssignedIdentitiesClientGetResponse{Identity: armmsi.Identity{ID: to.Ptr(id), Name: to.Ptr(name),
			Properties: &armmsi.UserAssignedIdentityProperties{PrincipalID: to.Ptr("22222222-0000-4000-8000-000000000002"), ClientID: to.Ptr("33333333-0000-4000-8000-000000000003")}}}, nil)
		return
	}
	cf.f.network.PublicIPAddressesServer.BeginCreateOrUpdate = func(_ context.Context, rg, name string, p armnetwork.PublicIPAddress, _ *armnetwork.PublicIPAddressesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armnetwork.PublicIPAddressesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		cf.ip = p
		p.ID = to.Ptr("/subscriptions/s/resourceGroups/" + rg + "/providers/Microsoft.Network/publicIPAddresses/" + name)
		p.Properties.IPAddress = to.Ptr("203.0.113.10")
		resp.SetTerminalResponse(http.StatusOK, armnetwork.PublicIPAddressesClientCreateOrUpdateResponse{PublicIPAddress: p}, nil)
		return
	}
	cf.f.network.InterfacesServer.BeginCreateOrUpdate = func(_ context.Context, rg, name string, p armnetwork.Interface, _ *armnetwork.InterfacesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armnetwork.InterfacesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		cf.nic = p
		p.ID = to.Ptr("/subscriptions/s/resourceGroups/" + rg + "/providers/Microsoft.Network/networkInterfaces/" + name)
		resp.SetTerminalResponse(http.StatusOK, armnetwork.InterfacesClientCreateOrUpdateResponse{Interface: p}, nil)
		return
	}
	cf.f.network.InterfacesServer.BeginDelete = func(_ context.Context, _, name string, _ *armnetwork.InterfacesClientBeginDeleteOptions) (resp azfake.PollerResponder[armnetwork.InterfacesClientDeleteResponse], errResp azfake.ErrorResponder) {
		if nicDeleteCode != "" {
			errResp.SetResponseError(http.StatusBadRequest, nicDeleteCode)
			return
		}
		cf.deleted = append(cf.deleted, "nic "+name)
		resp.SetTerminalResponse(http.StatusOK, armnetwork.InterfacesClientDeleteResponse{}, nil)
		return
	}
	cf.f.network.PublicIPAddressesServer.BeginDelete = func(_ context.Context, _, name string, _ *armnetwork.PublicIPAddressesClientBeginDeleteOptions) (resp azfake.PollerResponder[armnetwork.PublicIPAddressesClientDeleteResponse], errResp azfake.ErrorResponder) {
		cf.deleted = append(cf.deleted, "ip "+name)
		resp.SetTerminalResponse(http.StatusOK, armnetwork.PublicIPAddressesClientDeleteResponse{}, nil)
		return
	}
	// A VM create that Azure accepted and then failed leaves the VM in
	// Failed; create deletes it (which on Azure cascades its NIC and IP).
	cf.f.compute.VirtualMachinesServer.BeginDelete = func(_ context.Context, _, name string, _ *armcompute.VirtualMachinesClientBeginDeleteOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientDeleteResponse], errResp azfake.ErrorResponder) {
		cf.deleted = append(cf.deleted, "vm "+name)
		resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientDeleteResponse{}, nil)
		return
	}
	cf.f.compute.VirtualMachinesServer.BeginCreateOrUpdate = func(_ context.Context, rg, name string, vm armcompute.VirtualMachine, _ *armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		cf.vm = vm
		resp.AddNonTerminalResponse(http.StatusCreated, nil)
		if vmErrCode != "" {
			resp.SetTerminalError(http.StatusConflict, vmErrCode)
			return
		}
		vm.ID = to.Ptr("/subscriptions/s/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name)
		vm.Name = to.Ptr(name)
		vm.Properties.ProvisioningState = to.Ptr("Succeeded")
		resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientCreateOrUpdateResponse{VirtualMachine: vm}, nil)
		return
	}
	// A create assigns no role: any assignment is counted (and refused).
	cf.f.authz.RoleAssignmentsServer.Create = func(_ context.Context, scope, _ string, _ armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
		cf.roleAssignments = append(cf.roleAssignments, scope)
		errResp.SetResponseError(http.StatusForbidden, "AuthorizationFailed")
		return
	}
	cf.f.resources.TagsServer.BeginUpdateAtScope = func(_ context.Context, _ string, p armresources.TagsPatchResource, _ *armresources.TagsClientBeginUpdateAtScopeOptions) (resp azfake.PollerResponder[armresources.TagsClientUpdateAtScopeResponse], errResp azfake.ErrorResponder) {
		cf.tagPatches = append(cf.tagPatches, p)
		resp.SetTerminalResponse(http.StatusOK, armresources.TagsClientUpdateAtScopeResponse{}, nil)
		return
	}
	return cf
}

func createReq(spot bool) vps.CreateInstanceRequest {
	return vps.CreateInstanceRequest{HostID: testHost, HostName: "my-agent", UserData: []byte("#cloud-config\n"),
		AdminPublicKey: "ssh-ed25519 AAAAC3Nza test\n",
		ProviderArgs:   vps.ProviderArgs{Region: "eastus", Size: "Standard_D2s_v5", Spot: spot}}
}

func TestCreateInstanceRequestBodies(t *testing.T) {
	cf := newCreateFakes("", "", http.StatusCreated)
	c := newFakeClient(t, cf.f)
	prog := &recordingProgress{}
	inst, err := c.CreateInstance(core.WithProgress(t.Context(), prog), createReq(true))
	if err != nil {
		t.Fatal(err)
	}
	if inst.PublicIP != "203.0.113.10" || inst.HostID != testHost || inst.Status != vps.StatusActive {
		t.Errorf("instance %+v", inst)
	}
	wantTags := map[string]string{"managed-by": "mngr", "mngr-provider": "azure", "mngr-host-id": string(testHost), "mngr-host-name": "my-agent", "mngr-created-at": "1800000000",
		"mngr-creator": creatorValue()}
	for what, tags := range map[string]map[string]*string{"vm": cf.vm.Tags, "nic": cf.nic.Tags, "ip": cf.ip.Tags} {
		got := map[string]string{}
		for k, v := range tags {
			got[k] = *v
		}
		if d := cmp.Diff(wantTags, got); d != "" {
			t.Errorf("%s tags (-want +got)\n%s", what, d)
		}
	}
	p := cf.vm.Properties
	checks := map[string][2]any{
		"os disk delete": {armcompute.DiskDeleteOptionTypesDelete, *p.StorageProfile.OSDisk.DeleteOption},
		"nic delete":     {armcompute.DeleteOptionsDelete, *p.NetworkProfile.NetworkInterfaces[0].Properties.DeleteOption},
		"ip delete":      {armnetwork.DeleteOptionsDelete, *cf.nic.Properties.IPConfigurations[0].Properties.PublicIPAddress.Properties.DeleteOption},
		"ip sku":         {armnetwork.PublicIPAddressSKUNameStandard, *cf.ip.SKU.Name},
		"ip static":      {armnetwork.IPAllocationMethodStatic, *cf.ip.Properties.PublicIPAllocationMethod},
		"identity":       {armcompute.ResourceIdentityTypeUserAssigned, *cf.vm.Identity.Type},
		"identity id":    {[]string{"/subscriptions/" + fakeSubscription + "/resourceGroups/mngr/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + identityName}, slices.Collect(maps.Keys(cf.vm.Identity.UserAssignedIdentities))},
		"priority":       {armcompute.VirtualMachinePriorityTypesSpot, *p.Priority},
		"eviction":       {armcompute.VirtualMachineEvictionPolicyTypesDelete, *p.EvictionPolicy},
		"max price":      {-1.0, *p.BillingProfile.MaxPrice},
		"custom data":    {base64.StdEncoding.EncodeToString([]byte("#cloud-config\n")), *p.OSProfile.CustomData},
		"key path":       {"/home/azureuser/.ssh/authorized_keys", *p.OSProfile.LinuxConfiguration.SSH.PublicKeys[0].Path},
		"key data":       {"ssh-ed25519 AAAAC3Nza test", *p.OSProfile.LinuxConfiguration.SSH.PublicKeys[0].KeyData},
		"no passwords":   {true, *p.OSProfile.LinuxConfiguration.DisablePasswordAuthentication},
		"size":           {armcompute.VirtualMachineSizeTypes("Standard_D2s_v5"), *p.HardwareProfile.VMSize},
		"region":         {"eastus", *cf.vm.Location},
		"computer name":  {"mngr-my-agent-01234567", *p.OSProfile.ComputerName},
		"subnet":         {"/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/mngr/providers/Microsoft.Network/virtualNetworks/mngr-vnet/subnets/mngr-subnet", *cf.nic.Properties.IPConfigurations[0].Properties.Subnet.ID},
		"image":          {"Debian/debian-12/12-gen2/latest", *p.StorageProfile.ImageReference.Publisher + "/" + *p.StorageProfile.ImageReference.Offer + "/" + *p.StorageProfile.ImageReference.SKU + "/" + *p.StorageProfile.ImageReference.Version},
		"no role writes": {0, len(cf.roleAssignments)},
		"no tag patches": {0, len(cf.tagPatches)},
		"no warnings":    {0, len(prog.warnings)},
	}
	for name, c := range checks {
		if d := cmp.Diff(c[0], c[1]); d != "" {
			t.Errorf("%s (-want +got)\n%s", name, d)
		}
	}
}

func TestCreateInstanceOnDemandHasNoSpotFields(t *testing.T) {
	cf := newCreateFakes("", "", http.StatusCreated)
	if _, err := newFakeClient(t, cf.f).CreateInstance(t.Context(), createReq(false)); err != nil {
		t.Fatal(err)
	}
	if p := cf.vm.Properties; p.Priority != nil || p.EvictionPolicy != nil || p.BillingProfile != nil {
		t.Errorf("on-demand VM has spot fields: %v %v %v", p.Priority, p.EvictionPolicy, p.BillingProfile)
	}
}

// A create attaches the prepared identity and assigns no role. Without the
// identity (a group an older mngr prepared, or no right to read it) the VM
// is created without identity, with a warning and self-deallocate tagged
// disabled; the identity is looked up once per process.
func TestCreateInstanceAttachesThePreparedIdentity(t *testing.T) {
	for _, tt := range []struct {
		status      int
		wantWarning string
	}{{http.StatusOK, ""}, {http.StatusNotFound, "mngr azure prepare"}, {http.StatusForbidden, "AuthorizationFailed"}} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			cf := newCreateFakes("", "", tt.status)
			c := newFakeClient(t, cf.f)
			for range 2 {
				prog := &recordingProgress{}
				cf.tagPatches = nil
				if _, err := c.CreateInstance(core.WithProgress(t.Context(), prog), createReq(false)); err != nil {
					t.Fatal(err)
				}
				if len(cf.roleAssignments) != 0 {
					t.Fatalf("create assigned roles at %v", cf.roleAssignments)
				}
				if tt.wantWarning == "" {
					if len(prog.warnings) != 0 || len(cf.tagPatches) != 0 || cf.vm.Identity == nil {
						t.Fatalf("warnings %v, tag patches %+v, identity %+v", prog.warnings, cf.tagPatches, cf.vm.Identity)
					}
					continue
				}
				if cf.vm.Identity != nil {
					t.Errorf("VM without the prepared identity has identity %+v", cf.vm.Identity)
				}
				if len(prog.warnings) != 1 || !strings.Contains(prog.warnings[0], tt.wantWarning) || !strings.Contains(prog.warnings[0], "self-deallocate is disabled") {
					t.Errorf("warnings %v, want one naming %q", prog.warnings, tt.wantWarning)
				}
				if len(cf.tagPatches) != 1 || *cf.tagPatches[0].Operation != armresources.TagsPatchOperationMerge || *cf.tagPatches[0].Properties.Tags[tagSelfDealloc] != "disabled" {
					t.Errorf("want a Merge of %s=disabled, got %+v", tagSelfDealloc, cf.tagPatches)
				}
			}
			if want := map[bool]int{true: 1, false: 2}[tt.wantWarning == ""]; cf.identityGets != want {
				t.Errorf("%d GETs of the identity in two creates, want %d", cf.identityGets, want)
			}
		})
	}
}

func TestCreateInstanceVMFailureCleansUp(t *testing.T) {
	tests := []struct {
		name        string
		vmErr       string
		nicDelErr   string
		wantErr     error
		wantDeleted []string
		wantWarn    string
	}{
		// The fake accepts every VM create (201) and fails it afterwards, so
		// create deletes the failed VM first, even with a single candidate.
		{"capacity", "SkuNotAvailable", "", core.ErrCapacity, []string{"vm mngr-my-agent-01234567", "nic mngr-my-agent-01234567-nic", "ip mngr-my-agent-01234567-ip"}, ""},
		{"quota", "QuotaExceeded", "", core.ErrQuotaExceeded, []string{"vm mngr-my-agent-01234567", "nic mngr-my-agent-01234567-nic", "ip mngr-my-agent-01234567-ip"}, ""},
		{"allocation", "AllocationFailed", "", core.ErrCapacity, []string{"vm mngr-my-agent-01234567", "nic mngr-my-agent-01234567-nic", "ip mngr-my-agent-01234567-ip"}, ""},
		{"nic reserved", "OverconstrainedAllocationRequest", "NicReservedForAnotherVm", core.ErrCapacity, []string{"vm mngr-my-agent-01234567"}, "mngr gc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf := newCreateFakes(tt.vmErr, tt.nicDelErr, http.StatusCreated)
			prog := &recordingProgress{}
			_, err := newFakeClient(t, cf.f).CreateInstance(core.WithProgress(t.Context(), prog), createReq(false))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.wantDeleted, cf.deleted); d != "" {
				t.Errorf("deleted (-want +got)\n%s", d)
			}
			if tt.wantWarn != "" && (len(prog.warnings) != 1 || !strings.Contains(prog.warnings[0], tt.wantWarn)) {
				t.Errorf("warnings %v, want one mentioning %q", prog.warnings, tt.wantWarn)
			}
		})
	}
}

func TestQuotaErrorHint(t *testing.T) {
	cf := newCreateFakes("QuotaExceeded", "", http.StatusCreated)
	_, err := newFakeClient(t, cf.f).CreateInstance(t.Context(), createReq(false))
	h := core.HintOf(err)
	if !strings.Contains(h, "az vm list-usage --location eastus -o table") || !strings.Contains(h, "portal") || !strings.Contains(err.Error(), "eastus") {
		t.Fatalf("err %v, hint %q", err, h)
	}
}

func TestPreflight(t *testing.T) {
	for _, tt := range []struct {
		status  int
		code    string
		wantErr error
		hint    string
	}{
		{http.StatusOK, "", nil, ""},
		{http.StatusNotFound, "NotFound", core.ErrUnavailable, "run: mngr azure prepare --provider azure"},
		{http.StatusForbidden, "AuthorizationFailed", core.ErrUnauthorized, "Contributor"},
		// A subscription that does not exist is a 404 too, but not a missing subnet.
		{http.StatusNotFound, "SubscriptionNotFound", core.ErrNotFound, "az account list -o table"},
	} {
		t.Run(fmt.Sprint(tt.status, tt.code), func(t *testing.T) {
			f := &fakeARM{}
			f.network.SubnetsServer.Get = func(_ context.Context, _, _, name string, _ *armnetwork.SubnetsClientGetOptions) (resp azfake.Responder[armnetwork.SubnetsClientGetResponse], errResp azfake.ErrorResponder) {
				if tt.status != http.StatusOK {
					errResp.SetResponseError(tt.status, tt.code)
					return
				}
				resp.SetResponse(http.StatusOK, armnetwork.SubnetsClientGetResponse{Subnet: armnetwork.Subnet{Name: to.Ptr(name)}}, nil)
				return
			}
			err := newFakeClient(t, f).Preflight(t.Context())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(core.HintOf(err), tt.hint) {
				t.Fatalf("hint %q, want it to say %q", core.HintOf(err), tt.hint)
			}
		})
	}
}

func TestCapacityHintListsAvailableSizes(t *testing.T) {
	cf := newCreateFakes("SkuNotAvailable", "", http.StatusCreated)
	var filter string
	cf.f.compute.ResourceSKUsServer.NewListPager = func(o *armcompute.ResourceSKUsClientListOptions) (resp azfake.PagerResponder[armcompute.ResourceSKUsClientListResponse]) {
		filter = *o.Filter
		resp.AddPage(http.StatusOK, armcompute.ResourceSKUsClientListResponse{ResourceSKUsResult: armcompute.ResourceSKUsResult{Value: []*armcompute.ResourceSKU{
			{Name: to.Ptr("Standard_D2s_v5"), ResourceType: to.Ptr("virtualMachines")},
			{Name: to.Ptr("Standard_B2s"), ResourceType: to.Ptr("virtualMachines")},
			{Name: to.Ptr("Standard_F2"), ResourceType: to.Ptr("virtualMachines"), Restrictions: []*armcompute.ResourceSKURestrictions{{Type: to.Ptr(armcompute.ResourceSKURestrictionsTypeLocation)}}},
			{Name: to.Ptr("Premium_LRS"), ResourceType: to.Ptr("disks")},
		}}}, nil)
		return
	}
	_, err := newFakeClient(t, cf.f).CreateInstance(t.Context(), createReq(false))
	if !errors.Is(err, core.ErrCapacity) {
		t.Fatal(err)
	}
	if h := core.HintOf(err); h != "sizes available in eastus: Standard_B2s; retry with -b --azure-vm-size=SIZE, or another region with -b --azure-region=REGION" || filter != "location eq 'eastus'" {
		t.Fatalf("hint %q filter %q", h, filter)
	}
}

func TestPowerStatus(t *testing.T) {
	tests := []struct {
		prov  string
		codes []string
		want  vps.InstanceStatus
	}{
		{"Succeeded", []string{"ProvisioningState/succeeded", "PowerState/running"}, vps.StatusActive},
		{"Succeeded", []string{"PowerState/deallocated"}, vps.StatusStopped},
		{"Succeeded", []string{"PowerState/stopped"}, vps.StatusStoppedBilling},
		{"Succeeded", []string{"PowerState/starting"}, vps.StatusPending},
		{"Creating", nil, vps.StatusPending},
		{"Succeeded", []string{"PowerState/deallocating"}, vps.StatusStopping},
		{"Succeeded", []string{"PowerState/stopping"}, vps.StatusStopping},
		{"Deleting", []string{"PowerState/running"}, vps.StatusDestroying},
		{"Failed", []string{"PowerState/running"}, vps.StatusFailed},
		{"Succeeded", nil, vps.StatusUnknown},
	}
	for _, tt := range tests {
		if got := powerStatus(tt.prov, tt.codes); got != tt.want {
			t.Errorf("powerStatus(%q, %v) = %s, want %s", tt.prov, tt.codes, got, tt.want)
		}
	}
}
