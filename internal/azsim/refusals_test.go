package azsim_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/google/go-cmp/cmp"
)

// spotParams is vmParams as a Spot VM, deleted on eviction.
func spotParams(nicID, size string) armcompute.VirtualMachine {
	v := vmParams(nicID, size)
	v.Properties.Priority = to.Ptr(armcompute.VirtualMachinePriorityTypesSpot)
	v.Properties.EvictionPolicy = to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDelete)
	v.Properties.BillingProfile = &armcompute.BillingProfile{MaxPrice: to.Ptr(-1.0)}
	return v
}

// createVM creates a VM and waits for it, returning the create's error.
func (c *clients) createVM(ctx context.Context, rg, name string, v armcompute.VirtualMachine) error {
	p, err := c.vm.BeginCreateOrUpdate(ctx, rg, name, v, nil)
	if err != nil {
		return err
	}
	_, err = p.PollUntilDone(ctx, poll)
	return err
}

func TestSKUsReportLowPriorityCapable(t *testing.T) {
	s := startSim(t, "")
	cf, err := armcompute.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	pager := cf.NewResourceSKUsClient().NewListPager(&armcompute.ResourceSKUsClientListOptions{Filter: to.Ptr("location eq 'westus'")})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, sku := range page.Value {
			for _, c := range sku.Capabilities {
				if *c.Name == "LowPriorityCapable" {
					got[*sku.Name] = *c.Value
				}
			}
		}
	}
	want := map[string]string{"Standard_B1s": "False", "Standard_B2s": "False", "Standard_D2as_v5": "True", "Standard_D2s_v5": "True", "Standard_E2s_v5": "True"}
	for size, w := range want {
		if got[size] != w {
			t.Errorf("%s LowPriorityCapable = %q, want %q", size, got[size], w)
		}
	}
}

func TestSpotSizesAndLowPriorityQuota(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nic1, _ := c.network(ctx, t, "rg1", "s1")

	// A B-series Spot VM is refused at the PUT, as Azure refuses it.
	_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "spot-b", spotParams(nic1, "Standard_B2s"), nil)
	if errCode(err) != "SkuNotAvailable" || !strings.Contains(err.Error(), "409") {
		t.Fatalf("spot B2s: %v, want 409 SkuNotAvailable", err)
	}
	// A Spot-capable size works once the NIC reservation of the refusal ends.
	s.admin(t, http.MethodPost, "/clock", `{"advance_seconds":181}`, nil)
	if err := c.createVM(ctx, "rg1", "spot-d8", spotParams(nic1, "Standard_D8s_v5")); err != nil {
		t.Fatalf("spot D8s_v5: %v", err)
	}
	usage := func() map[string][2]int64 {
		cf, err := armcompute.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][2]int64{}
		p := cf.NewUsageClient().NewListPager("westus", nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Value {
				out[*u.Name.Value] = [2]int64{int64(*u.CurrentValue), *u.Limit}
			}
		}
		return out
	}
	u := usage()
	// The Spot VM draws on lowPriorityCores only, not on its family or the regional total.
	if d := cmp.Diff(map[string][2]int64{"lowPriorityCores": {8, 10}, "cores": {0, 100}, "standardDSv5Family": {0, 40}},
		map[string][2]int64{"lowPriorityCores": u["lowPriorityCores"], "cores": u["cores"], "standardDSv5Family": u["standardDSv5Family"]}); d != "" {
		t.Errorf("usages (-want +got)\n%s", d)
	}
	// A second Spot VM over the low-priority pool is refused…
	nic2, _ := c.network(ctx, t, "rg1", "s2")
	err = c.createVM(ctx, "rg1", "spot-over", spotParams(nic2, "Standard_D4s_v5"))
	if errCode(err) != "OperationNotAllowed" || !strings.Contains(err.Error(), "exceeding approved LowPriorityCores quota") {
		t.Fatalf("spot over quota: %v", err)
	}
	// …while a regular VM of the same family still fits its own pool.
	nic3, _ := c.network(ctx, t, "rg1", "s3")
	if err := c.createVM(ctx, "rg1", "regular", vmParams(nic3, "Standard_D4s_v5")); err != nil {
		t.Fatalf("regular D4s_v5: %v", err)
	}
}

func TestVMRefusesWhatAzureRefuses(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nicID, _ := c.network(ctx, t, "rg1", "r1")
	tests := []struct {
		name       string
		edit       func(v *armcompute.VirtualMachine)
		wantTarget string
	}{
		{"reserved admin name", func(v *armcompute.VirtualMachine) {
			v.Properties.OSProfile.AdminUsername = to.Ptr("sys")
			v.Properties.OSProfile.LinuxConfiguration.SSH.PublicKeys[0].Path = to.Ptr("/home/sys/.ssh/authorized_keys")
		}, "adminUsername"},
		{"reserved admin name in capitals", func(v *armcompute.VirtualMachine) {
			v.Properties.OSProfile.AdminUsername = to.Ptr("Backup")
			v.Properties.OSProfile.LinuxConfiguration.SSH.PublicKeys[0].Path = to.Ptr("/home/Backup/.ssh/authorized_keys")
		}, "adminUsername"},
		{"ssh key outside the default path", func(v *armcompute.VirtualMachine) {
			v.Properties.OSProfile.LinuxConfiguration.SSH.PublicKeys[0].Path = to.Ptr("/root/.ssh/authorized_keys")
		}, "linuxConfiguration.ssh.publicKeys.path"},
		{"ultra disk as os disk", func(v *armcompute.VirtualMachine) {
			v.Properties.StorageProfile.OSDisk.ManagedDisk.StorageAccountType = to.Ptr(armcompute.StorageAccountTypesUltraSSDLRS)
		}, "osDisk.managedDisk.storageAccountType"},
		{"premium v2 as os disk", func(v *armcompute.VirtualMachine) {
			v.Properties.StorageProfile.OSDisk.ManagedDisk.StorageAccountType = to.Ptr(armcompute.StorageAccountTypesPremiumV2LRS)
		}, "osDisk.managedDisk.storageAccountType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vmParams(nicID, "Standard_D2s_v5")
			tt.edit(&v)
			_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "bad", v, nil)
			if errCode(err) != "InvalidParameter" || !strings.Contains(err.Error(), `"target": "`+tt.wantTarget+`"`) {
				t.Errorf("err = %v, want InvalidParameter with target %s", err, tt.wantTarget)
			}
		})
	}
	// The body was valid otherwise: the same VM with none of the edits is created.
	if err := c.createVM(ctx, "rg1", "good", vmParams(nicID, "Standard_D2s_v5")); err != nil {
		t.Errorf("valid vm: %v", err)
	}
	// Virtual network names are 2-64 characters.
	_, err := c.vnet.BeginCreateOrUpdate(ctx, "rg1", "v", armnetwork.VirtualNetwork{Location: to.Ptr("westus"),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.1.0.0/16")}}}}, nil)
	if errCode(err) != "InvalidResourceName" {
		t.Errorf("one-character vnet name: %v, want InvalidResourceName", err)
	}
}

func TestFailAfterAcceptLeavesAFailedVM(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nicID, pipID := c.network(ctx, t, "rg1", "f1")
	if st := s.admin(t, http.MethodPost, "/faults", `{"method":"PUT","path":"/virtualMachines/doomed$","count":1,"fail_after_accept":true}`, nil); st != 201 {
		t.Fatalf("add fault: %d", st)
	}
	p, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "doomed", vmParams(nicID, "Standard_D2s_v5"), nil)
	if err != nil {
		t.Fatalf("the PUT itself must be accepted: %v", err)
	}
	if _, err := p.PollUntilDone(ctx, poll); errCode(err) != "AllocationFailed" {
		t.Fatalf("poll: %v, want AllocationFailed", err)
	}
	got, err := c.vm.Get(ctx, "rg1", "doomed", nil)
	if err != nil {
		t.Fatalf("the failed VM must stay: %v", err)
	}
	if st := *got.Properties.ProvisioningState; st != "Failed" {
		t.Errorf("provisioningState = %q, want Failed", st)
	}
	// It holds its NIC (and so the public IP and the OS disk)…
	np, err := c.nic.BeginDelete(ctx, "rg1", "f1-nic", nil)
	if err == nil {
		_, err = np.PollUntilDone(ctx, poll)
	}
	if errCode(err) != "NicInUse" {
		t.Errorf("delete nic of failed vm: %v, want NicInUse", err)
	}
	// …until the VM is deleted, which cascades them.
	dp, err := c.vm.BeginDelete(ctx, "rg1", "doomed", nil)
	if err == nil {
		_, err = dp.PollUntilDone(ctx, poll)
	}
	if err != nil {
		t.Fatalf("delete failed vm: %v", err)
	}
	var state struct {
		Resources map[string]int `json:"resources"`
	}
	s.admin(t, http.MethodGet, "/state", "", &state)
	for _, typ := range []string{"Microsoft.Compute/virtualMachines", "Microsoft.Compute/disks", "Microsoft.Network/networkInterfaces", "Microsoft.Network/publicIPAddresses"} {
		if state.Resources[typ] != 0 {
			t.Errorf("%d %s left after deleting the failed VM (pip %s)", state.Resources[typ], typ, pipID)
		}
	}
}

// The SKU list carries HyperVGenerations per size as Azure's does: the Av2,
// Dv2 and Dv3 (no "s") sizes boot Gen1 images only. A Gen1-only size with a
// Gen2 image is refused at the PUT with Azure's 400 BadRequest, and the same
// size with a Gen1 image is taken.
func TestHyperVGenerations(t *testing.T) {
	s := startSim(t, "")
	cf, err := armcompute.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	pager := cf.NewResourceSKUsClient().NewListPager(&armcompute.ResourceSKUsClientListOptions{Filter: to.Ptr("location eq 'westus'")})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, sku := range page.Value {
			for _, c := range sku.Capabilities {
				if *c.Name == "HyperVGenerations" {
					got[*sku.Name] = *c.Value
				}
			}
		}
	}
	want := map[string]string{"Standard_A2_v2": "V1", "Standard_D2_v2": "V1", "Standard_D2_v3": "V1", "Standard_B2s": "V1,V2",
		"Standard_D2as_v5": "V1,V2", "Standard_D2s_v5": "V1,V2", "Standard_D2s_v3": "V1,V2"}
	for size, w := range want {
		if got[size] != w {
			t.Errorf("%s HyperVGenerations = %q, want %q", size, got[size], w)
		}
	}
	c := newClients(t, s)
	ctx := context.Background()
	nic, _ := c.network(ctx, t, "rg1", "g1")
	_, err = c.vm.BeginCreateOrUpdate(ctx, "rg1", "gen1-size", vmParams(nic, "Standard_D2_v3"), nil)
	if errCode(err) != "BadRequest" || !strings.Contains(err.Error(), "400") ||
		!strings.Contains(err.Error(), "The selected VM size 'Standard_D2_v3' cannot boot Hypervisor Generation '2'.") {
		t.Fatalf("Standard_D2_v3 with the Gen2 image: %v, want 400 BadRequest cannot boot Hypervisor Generation '2'", err)
	}
	gen1 := vmParams(nic, "Standard_D2_v3")
	gen1.Properties.StorageProfile.ImageReference.SKU = to.Ptr("12")
	if err := c.createVM(ctx, "rg1", "gen1-image", gen1); err != nil {
		t.Fatalf("Standard_D2_v3 with the Gen1 image: %v", err)
	}
}

// Each of the three vCPU quotas a create can exceed is refused with
// Azure's OperationNotAllowed wording naming that quota: a family's Cores,
// Total Regional Cores, and LowPriorityCores for Spot. The admin API sets a
// limit as an approved quota request does.
func TestQuotaRefusalsNameTheQuota(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	tests := []struct {
		row   string
		limit int
		spot  bool
		want  string
	}{
		{"standardBSFamily", 1, false, "exceeding approved standardBSFamily Cores quota. Additional details - Deployment Model: Resource Manager, Location: westus, Current Limit: 1, Current Usage: 0, Additional Required: 2"},
		{"cores", 1, false, "exceeding approved Total Regional Cores quota. Additional details - Deployment Model: Resource Manager, Location: westus, Current Limit: 1"},
		{lowPriority, 1, true, "exceeding approved LowPriorityCores quota."},
	}
	for i, tt := range tests {
		if st := s.admin(t, http.MethodPost, "/quotas", `{"name":"`+tt.row+`","limit":`+strconv.Itoa(tt.limit)+`}`, nil); st != http.StatusOK {
			t.Fatalf("admin quotas %s: %d", tt.row, st)
		}
		nic, _ := c.network(ctx, t, "rg1", "q"+strconv.Itoa(i))
		v := vmParams(nic, "Standard_B2s")
		if tt.spot {
			v = spotParams(nic, "Standard_D2as_v5")
		}
		_, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "quota-"+strconv.Itoa(i), v, nil)
		if errCode(err) != "OperationNotAllowed" || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want OperationNotAllowed with %q", tt.row, err, tt.want)
		}
		// Put the limit back so the next row is the one hit.
		s.admin(t, http.MethodPost, "/quotas", `{"name":"`+tt.row+`","limit":100}`, nil)
	}
	if st := s.admin(t, http.MethodPost, "/quotas", `{"name":"nope","limit":1}`, nil); st != http.StatusBadRequest {
		t.Errorf("unknown usage row: %d, want 400", st)
	}
}

const lowPriority = "lowPriorityCores"
