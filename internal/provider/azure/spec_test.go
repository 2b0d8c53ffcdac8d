package azure

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/google/go-cmp/cmp"
)

func TestNSGSpec(t *testing.T) {
	open := nsgSpec("westus", []string{"0.0.0.0/0"}, 2222, nil)
	var ports []string
	for _, r := range open.Properties.SecurityRules {
		p := r.Properties
		if *p.Protocol != "Tcp" || *p.Access != "Allow" || *p.Direction != "Inbound" || *p.SourceAddressPrefix != "0.0.0.0/0" {
			t.Errorf("rule %s: %+v", *r.Name, p)
		}
		ports = append(ports, *p.DestinationPortRange)
	}
	if d := cmp.Diff([]string{"22", "2222"}, ports); d != "" {
		t.Errorf("ports (-want +got)\n%s", d)
	}
	multi := nsgSpec("westus", []string{"203.0.113.4/32", "198.51.100.0/24"}, 2222, nil)
	if n := len(multi.Properties.SecurityRules[0].Properties.SourceAddressPrefixes); n != 2 {
		t.Errorf("want 2 source prefixes, got %d", n)
	}
	if n := len(nsgSpec("westus", []string{}, 2222, nil).Properties.SecurityRules); n != 0 {
		t.Errorf("empty CIDR list made %d rules, want 0", n)
	}
	if len(cidrWarnings(nil)) != 1 || len(cidrWarnings([]string{"0.0.0.0/0"})) != 1 || len(cidrWarnings([]string{"203.0.113.4/32"})) != 0 {
		t.Error("cidrWarnings: want a warning for [] and for 0.0.0.0/0 only")
	}
}

func TestRoleSpec(t *testing.T) {
	r := roleSpec("/subscriptions/s/resourceGroups/mngr")
	var actions []string
	for _, a := range r.Properties.Permissions[0].Actions {
		actions = append(actions, *a)
	}
	if d := cmp.Diff(roleActions, actions); d != "" {
		t.Errorf("actions (-want +got)\n%s", d)
	}
	if *r.Properties.AssignableScopes[0] != "/subscriptions/s/resourceGroups/mngr" || *r.Properties.RoleName != roleName {
		t.Errorf("role %+v", r.Properties)
	}
}

// testVMSpec is a complete VMSpec of one attempt whose NIC and IP exist.
func testVMSpec(spot bool) VMSpec {
	return VMSpec{
		Name: "mngr-my-agent-01234567", NetBase: "mngr-my-agent-01234567-2", Region: "eastus", Size: "Standard_D2s_v5", Spot: spot,
		ImagePublisher: "Debian", ImageOffer: "debian-12", ImageSKU: "12-gen2", ImageVersion: "latest",
		OSDiskSizeGB: 64, OSDiskType: "Premium_LRS", AdminUsername: "mngr", SSHPublicKey: "ssh-ed25519 AAAAC3Nza test\n",
		CustomData: []byte("#cloud-config\n"), SubnetID: "/subscriptions/s/resourceGroups/mngr/providers/Microsoft.Network/virtualNetworks/v/subnets/sn",
		PublicIPID: "/ip-id", NICID: "/nic-id", Tags: map[string]*string{"managed-by": to.Ptr("mngr")},
		IdentityID: "/subscriptions/s/resourceGroups/mngr/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mngr-vm-identity",
	}
}

func TestVMSpecParameters(t *testing.T) {
	onDemand := func() armcompute.VirtualMachine {
		return armcompute.VirtualMachine{
			Location: to.Ptr("eastus"),
			Tags:     map[string]*string{"managed-by": to.Ptr("mngr")},
			Identity: &armcompute.VirtualMachineIdentity{Type: to.Ptr(armcompute.ResourceIdentityTypeUserAssigned),
				UserAssignedIdentities: map[string]*armcompute.UserAssignedIdentitiesValue{
					"/subscriptions/s/resourceGroups/mngr/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mngr-vm-identity": {}}},
			Properties: &armcompute.VirtualMachineProperties{
				HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes("Standard_D2s_v5"))},
				StorageProfile: &armcompute.StorageProfile{
					ImageReference: &armcompute.ImageReference{Publisher: to.Ptr("Debian"), Offer: to.Ptr("debian-12"), SKU: to.Ptr("12-gen2"), Version: to.Ptr("latest")},
					OSDisk: &armcompute.OSDisk{
						Name:         to.Ptr("mngr-my-agent-01234567-osdisk"),
						CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
						DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
						DiskSizeGB:   to.Ptr[int32](64),
						ManagedDisk:  &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypesPremiumLRS)},
					},
				},
				OSProfile: &armcompute.OSProfile{
					ComputerName:  to.Ptr("mngr-my-agent-01234567"),
					AdminUsername: to.Ptr("mngr"),
					CustomData:    to.Ptr("I2Nsb3VkLWNvbmZpZwo="),
					LinuxConfiguration: &armcompute.LinuxConfiguration{
						DisablePasswordAuthentication: to.Ptr(true),
						SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
							Path: to.Ptr("/home/mngr/.ssh/authorized_keys"), KeyData: to.Ptr("ssh-ed25519 AAAAC3Nza test"),
						}}},
					},
				},
				NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{
					ID:         to.Ptr("/nic-id"),
					Properties: &armcompute.NetworkInterfaceReferenceProperties{Primary: to.Ptr(true), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete)},
				}}},
			},
		}
	}
	spot := onDemand()
	spot.Properties.Priority = to.Ptr(armcompute.VirtualMachinePriorityTypesSpot)
	spot.Properties.EvictionPolicy = to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDelete)
	spot.Properties.BillingProfile = &armcompute.BillingProfile{MaxPrice: to.Ptr(-1.0)}
	noIdentity := testVMSpec(false)
	noIdentity.IdentityID = ""
	withoutIdentity := onDemand()
	withoutIdentity.Identity = nil
	for _, tt := range []struct {
		name string
		spec VMSpec
		want armcompute.VirtualMachine
	}{
		{"on-demand", testVMSpec(false), onDemand()},
		{"no prepared identity: no identity at all", noIdentity, withoutIdentity},
		{"spot: deleted on eviction, capped at the on-demand price", testVMSpec(true), spot},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, tt.spec.Parameters()); d != "" {
				t.Errorf("VM model (-want +got)\n%s", d)
			}
		})
	}
}

func TestVMSpecNICParameters(t *testing.T) {
	withIP := func(ip *armnetwork.PublicIPAddress) armnetwork.Interface {
		return armnetwork.Interface{
			Location: to.Ptr("eastus"),
			Tags:     map[string]*string{"managed-by": to.Ptr("mngr")},
			Properties: &armnetwork.InterfacePropertiesFormat{IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{
				Name: to.Ptr("ipconfig1"),
				Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{
					Subnet:                    &armnetwork.Subnet{ID: to.Ptr("/subscriptions/s/resourceGroups/mngr/providers/Microsoft.Network/virtualNetworks/v/subnets/sn")},
					PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic),
					Primary:                   to.Ptr(true),
					PublicIPAddress:           ip,
				},
			}}},
		}
	}
	private := testVMSpec(false)
	private.PublicIPID = ""
	for _, tt := range []struct {
		name string
		spec VMSpec
		want armnetwork.Interface
	}{
		{"public IP deleted with the VM", testVMSpec(false), withIP(&armnetwork.PublicIPAddress{
			ID: to.Ptr("/ip-id"), Properties: &armnetwork.PublicIPAddressPropertiesFormat{DeleteOption: to.Ptr(armnetwork.DeleteOptionsDelete)},
		})},
		{"private only", private, withIP(nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, tt.spec.NICParameters()); d != "" {
				t.Errorf("NIC model (-want +got)\n%s", d)
			}
		})
	}
}

func TestVMSpecPublicIPParameters(t *testing.T) {
	s := testVMSpec(false)
	want := armnetwork.PublicIPAddress{
		Location: to.Ptr("eastus"),
		Tags:     map[string]*string{"managed-by": to.Ptr("mngr")},
		SKU:      &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{
			PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic),
			PublicIPAddressVersion:   to.Ptr(armnetwork.IPVersionIPv4),
		},
	}
	if d := cmp.Diff(want, s.PublicIPParameters()); d != "" {
		t.Errorf("public IP model (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"mngr-my-agent-01234567-2-nic", "mngr-my-agent-01234567-2-ip"}, []string{s.NICName(), s.PublicIPName()}); d != "" {
		t.Errorf("names follow NetBase, not the VM (-want +got)\n%s", d)
	}
}
