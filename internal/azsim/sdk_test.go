package azsim_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
)

var poll = &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}

// clients bundles the SDK clients a test uses.
type clients struct {
	rg   *armresources.ResourceGroupsClient
	nsg  *armnetwork.SecurityGroupsClient
	vnet *armnetwork.VirtualNetworksClient
	sub  *armnetwork.SubnetsClient
	pip  *armnetwork.PublicIPAddressesClient
	nic  *armnetwork.InterfacesClient
	vm   *armcompute.VirtualMachinesClient
	tags *armresources.TagsClient
}

func newClients(t *testing.T, s *sim) *clients {
	t.Helper()
	rf, err := armresources.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := armnetwork.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := armcompute.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	return &clients{rg: rf.NewResourceGroupsClient(), tags: rf.NewTagsClient(), nsg: nf.NewSecurityGroupsClient(), vnet: nf.NewVirtualNetworksClient(),
		sub: nf.NewSubnetsClient(), pip: nf.NewPublicIPAddressesClient(), nic: nf.NewInterfacesClient(), vm: cf.NewVirtualMachinesClient()}
}

func errCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err != nil {
		return "non-response error: " + err.Error()
	}
	return ""
}

// networkErr creates rg, nsg, vnet+subnet, pip and nic named after prefix.
func (c *clients) networkErr(ctx context.Context, rg, prefix string) (nicID, pipID string, err error) {
	if _, err = c.rg.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
		return "", "", fmt.Errorf("create rg: %w", err)
	}
	np, err := c.nsg.BeginCreateOrUpdate(ctx, rg, prefix+"-nsg", armnetwork.SecurityGroup{Location: to.Ptr("westus"),
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: []*armnetwork.SecurityRule{{Name: to.Ptr("ssh"),
			Properties: &armnetwork.SecurityRulePropertiesFormat{Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP), Access: to.Ptr(armnetwork.SecurityRuleAccessAllow),
				Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound), Priority: to.Ptr[int32](1000), SourceAddressPrefix: to.Ptr("*"),
				SourcePortRange: to.Ptr("*"), DestinationAddressPrefix: to.Ptr("*"), DestinationPortRange: to.Ptr("22")}}}}}, nil)
	if err != nil {
		return "", "", fmt.Errorf("create nsg: %w", err)
	}
	nsg, err := np.PollUntilDone(ctx, poll)
	if err != nil {
		return "", "", fmt.Errorf("poll nsg: %w", err)
	}
	vp, err := c.vnet.BeginCreateOrUpdate(ctx, rg, prefix+"-vnet", armnetwork.VirtualNetwork{Location: to.Ptr("westus"),
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr("10.0.0.0/16")}},
			Subnets: []*armnetwork.Subnet{{Name: to.Ptr("default"), Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.0.0.0/24")}}}}}, nil)
	if err != nil {
		return "", "", fmt.Errorf("create vnet: %w", err)
	}
	if _, err = vp.PollUntilDone(ctx, poll); err != nil {
		return "", "", fmt.Errorf("poll vnet: %w", err)
	}
	sn, err := c.sub.Get(ctx, rg, prefix+"-vnet", "default", nil)
	if err != nil {
		return "", "", fmt.Errorf("get subnet: %w", err)
	}
	pp, err := c.pip.BeginCreateOrUpdate(ctx, rg, prefix+"-ip", armnetwork.PublicIPAddress{Location: to.Ptr("westus"),
		SKU:        &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic)}}, nil)
	if err != nil {
		return "", "", fmt.Errorf("create pip: %w", err)
	}
	pip, err := pp.PollUntilDone(ctx, poll)
	if err != nil {
		return "", "", fmt.Errorf("poll pip: %w", err)
	}
	nicp, err := c.nic.BeginCreateOrUpdate(ctx, rg, prefix+"-nic", armnetwork.Interface{Location: to.Ptr("westus"),
		Properties: &armnetwork.InterfacePropertiesFormat{NetworkSecurityGroup: &armnetwork.SecurityGroup{ID: nsg.ID},
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{Name: to.Ptr("ipconfig1"), Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{
				Subnet: &armnetwork.Subnet{ID: sn.ID}, PublicIPAddress: &armnetwork.PublicIPAddress{ID: pip.ID,
					Properties: &armnetwork.PublicIPAddressPropertiesFormat{DeleteOption: to.Ptr(armnetwork.DeleteOptionsDelete)}},
				PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic)}}}}}, nil)
	if err != nil {
		return "", "", fmt.Errorf("create nic: %w", err)
	}
	nic, err := nicp.PollUntilDone(ctx, poll)
	if err != nil {
		return "", "", fmt.Errorf("poll nic: %w", err)
	}
	return *nic.ID, *pip.ID, nil
}

// network is networkErr failing the test on error.
func (c *clients) network(ctx context.Context, t *testing.T, rg, prefix string) (nicID, pipID string) {
	t.Helper()
	nicID, pipID, err := c.networkErr(ctx, rg, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return nicID, pipID
}

func vmParams(nicID, size string) armcompute.VirtualMachine {
	return armcompute.VirtualMachine{Location: to.Ptr("westus"), Tags: map[string]*string{"managed-by": to.Ptr("mngr")},
		Identity: &armcompute.VirtualMachineIdentity{Type: to.Ptr(armcompute.ResourceIdentityTypeSystemAssigned)},
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))},
			StorageProfile: &armcompute.StorageProfile{ImageReference: &armcompute.ImageReference{Publisher: to.Ptr("Debian"), Offer: to.Ptr("debian-12"), SKU: to.Ptr("12-gen2"), Version: to.Ptr("latest")},
				OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
					ManagedDisk: &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypesPremiumLRS)}}},
			OSProfile: &armcompute.OSProfile{ComputerName: to.Ptr("host1"), AdminUsername: to.Ptr("mngr"), CustomData: to.Ptr("I2Nsb3VkLWNvbmZpZwo="),
				LinuxConfiguration: &armcompute.LinuxConfiguration{DisablePasswordAuthentication: to.Ptr(true),
					SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{Path: to.Ptr("/home/mngr/.ssh/authorized_keys"), KeyData: to.Ptr("ssh-ed25519 AAAA test")}}}}},
			NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{ID: &nicID,
				Properties: &armcompute.NetworkInterfaceReferenceProperties{Primary: to.Ptr(true), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete)}}}},
		}}
}

func TestSDKLifecycle(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nicID, pipID := c.network(ctx, t, "rg1", "h1")

	vp, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vm1", vmParams(nicID, "Standard_D2s_v5"), nil)
	if err != nil {
		t.Fatalf("create vm: %v", err)
	}
	v, err := vp.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatalf("poll vm: %v", err)
	}
	if got := *v.Properties.ProvisioningState; got != "Succeeded" {
		t.Errorf("provisioningState = %q", got)
	}
	if v.Identity.PrincipalID == nil || *v.Identity.PrincipalID == "" {
		t.Error("no principal id for the system-assigned identity")
	}
	power := func() string {
		t.Helper()
		iv, err := c.vm.InstanceView(ctx, "rg1", "vm1", nil)
		if err != nil {
			t.Fatalf("instance view: %v", err)
		}
		for _, st := range iv.Statuses {
			if len(*st.Code) > 11 && (*st.Code)[:11] == "PowerState/" {
				return *st.Code
			}
		}
		return ""
	}
	if got := power(); got != "PowerState/running" {
		t.Errorf("power = %q, want running", got)
	}
	dp, err := c.vm.BeginDeallocate(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatalf("deallocate: %v", err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("poll deallocate: %v", err)
	}
	if got := power(); got != "PowerState/deallocated" {
		t.Errorf("power = %q, want deallocated", got)
	}
	sp, err := c.vm.BeginStart(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := sp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("poll start: %v", err)
	}
	if got := power(); got != "PowerState/running" {
		t.Errorf("power = %q, want running", got)
	}
	// Attached resources refuse deletion.
	if _, err := c.nic.BeginDelete(ctx, "rg1", "h1-nic", nil); errCode(err) != "NicInUse" {
		t.Errorf("delete attached nic: %v, want NicInUse", err)
	}
	if _, err := c.pip.BeginDelete(ctx, "rg1", "h1-ip", nil); errCode(err) != "PublicIPAddressCannotBeDeleted" {
		t.Errorf("delete attached ip: %v, want PublicIPAddressCannotBeDeleted", err)
	}
	if _, err := c.nsg.BeginDelete(ctx, "rg1", "h1-nsg", nil); errCode(err) != "InUseNetworkSecurityGroupCannotBeDeleted" {
		t.Errorf("delete nsg in use: %v, want InUseNetworkSecurityGroupCannotBeDeleted", err)
	}
	// Tags at scope.
	tp, err := c.tags.BeginUpdateAtScope(ctx, *v.ID, armresources.TagsPatchResource{Operation: to.Ptr(armresources.TagsPatchOperationMerge),
		Properties: &armresources.Tags{Tags: map[string]*string{"mngr-host": to.Ptr("h1")}}}, nil)
	if err != nil {
		t.Fatalf("merge tags: %v", err)
	}
	if _, err := tp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("poll tags: %v", err)
	}
	got, err := c.vm.Get(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tags) != 2 || *got.Tags["mngr-host"] != "h1" {
		t.Errorf("tags after merge = %v", got.Tags)
	}
	// statusOnly list-all carries the power state.
	pager := c.vm.NewListAllPager(&armcompute.VirtualMachinesClientListAllOptions{StatusOnly: to.Ptr("true")})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Value {
			n++
			if x.Properties.InstanceView == nil {
				t.Errorf("statusOnly list: no instance view for %s", *x.ID)
			}
		}
	}
	if n != 1 {
		t.Errorf("list all = %d VMs, want 1", n)
	}
	// Delete cascades NIC, public IP and OS disk.
	delp, err := c.vm.BeginDelete(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatalf("delete vm: %v", err)
	}
	if _, err := delp.PollUntilDone(ctx, poll); err != nil {
		t.Fatalf("poll delete: %v", err)
	}
	if _, err := c.nic.Get(ctx, "rg1", "h1-nic", nil); errCode(err) != "ResourceNotFound" {
		t.Errorf("nic after vm delete: %v, want ResourceNotFound", err)
	}
	if _, err := c.pip.Get(ctx, "rg1", "h1-ip", nil); errCode(err) != "ResourceNotFound" {
		t.Errorf("ip after vm delete: %v, want ResourceNotFound (id %s)", err, pipID)
	}
	// The NSG is free now.
	np, err := c.nsg.BeginDelete(ctx, "rg1", "h1-nsg", nil)
	if err != nil {
		t.Fatalf("delete nsg: %v", err)
	}
	if _, err := np.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	// Resource group delete cascades the rest.
	rp, err := c.rg.BeginDelete(ctx, "rg1", nil)
	if err != nil {
		t.Fatalf("delete rg: %v", err)
	}
	if _, err := rp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	ex, err := c.rg.CheckExistence(ctx, "rg1", nil)
	if err != nil || ex.Success {
		t.Errorf("rg exists after delete: %v %v", ex.Success, err)
	}
	if _, err := c.vnet.Get(ctx, "rg1", "h1-vnet", nil); errCode(err) != "ResourceGroupNotFound" {
		t.Errorf("vnet after rg delete: %v, want ResourceGroupNotFound", err)
	}
}
