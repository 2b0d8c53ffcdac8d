package azure

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Tag names mngr puts on Azure resources.
const (
	tagManagedBy     = "managed-by"
	tagManagedByMngr = "mngr"
	tagProvider      = "mngr-provider"
	tagHostID        = "mngr-host-id"
	tagHostName      = "mngr-host-name"
	tagCreatedAt     = "mngr-created-at"
	tagSelfDealloc   = "mngr-self-deallocate"
)

// baseTags are the five fixed tags of every mngr resource of a host.
func (c *Client) baseTags(req vps.CreateInstanceRequest) map[string]*string {
	return map[string]*string{
		tagManagedBy: to.Ptr(tagManagedByMngr),
		tagProvider:  to.Ptr(c.providerName),
		tagHostID:    to.Ptr(string(req.HostID)),
		tagHostName:  to.Ptr(req.HostName),
		tagCreatedAt: to.Ptr(strconv.FormatInt(c.now().Unix(), 10)),
	}
}

// publicIPSpec renders the static Standard public IP of a host.
func publicIPSpec(region string, tags map[string]*string) armnetwork.PublicIPAddress {
	return armnetwork.PublicIPAddress{
		Location: to.Ptr(region),
		Tags:     tags,
		SKU:      &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{
			PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic),
			PublicIPAddressVersion:   to.Ptr(armnetwork.IPVersionIPv4),
		},
	}
}

// nicSpec renders the NIC; the public IP is deleted with the VM via the ipConfiguration's deleteOption.
func nicSpec(region, subnetID, publicIPID string, tags map[string]*string) armnetwork.Interface {
	ipProps := &armnetwork.InterfaceIPConfigurationPropertiesFormat{
		Subnet:                    &armnetwork.Subnet{ID: to.Ptr(subnetID)},
		PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic),
		Primary:                   to.Ptr(true),
	}
	if publicIPID != "" {
		ipProps.PublicIPAddress = &armnetwork.PublicIPAddress{
			ID:         to.Ptr(publicIPID),
			Properties: &armnetwork.PublicIPAddressPropertiesFormat{DeleteOption: to.Ptr(armnetwork.DeleteOptionsDelete)},
		}
	}
	return armnetwork.Interface{
		Location: to.Ptr(region),
		Tags:     tags,
		Properties: &armnetwork.InterfacePropertiesFormat{
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{Name: to.Ptr("ipconfig1"), Properties: ipProps}},
		},
	}
}

// vmSpec renders the VM model of a host (STYLE 5).
func vmSpec(cfg Config, name, region, size string, spot bool, nicID, publicKey string, userData []byte, tags map[string]*string) armcompute.VirtualMachine {
	vm := armcompute.VirtualMachine{
		Location: to.Ptr(region),
		Tags:     tags,
		Identity: &armcompute.VirtualMachineIdentity{Type: to.Ptr(armcompute.ResourceIdentityTypeSystemAssigned)},
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))},
			StorageProfile: &armcompute.StorageProfile{
				ImageReference: &armcompute.ImageReference{
					Publisher: to.Ptr(cfg.ImagePublisher), Offer: to.Ptr(cfg.ImageOffer),
					SKU: to.Ptr(cfg.ImageSKU), Version: to.Ptr(cfg.ImageVersion),
				},
				OSDisk: &armcompute.OSDisk{
					CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
					DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
					DiskSizeGB:   to.Ptr(cfg.OSDiskSizeGB),
					ManagedDisk:  &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypes(cfg.OSDiskType))},
				},
			},
			OSProfile: &armcompute.OSProfile{
				ComputerName:  to.Ptr(name),
				AdminUsername: to.Ptr(cfg.AdminUsername),
				CustomData:    to.Ptr(base64.StdEncoding.EncodeToString(userData)),
				LinuxConfiguration: &armcompute.LinuxConfiguration{
					DisablePasswordAuthentication: to.Ptr(true),
					SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
						Path:    to.Ptr("/home/" + cfg.AdminUsername + "/.ssh/authorized_keys"),
						KeyData: to.Ptr(strings.TrimSpace(publicKey)),
					}}},
				},
			},
			NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{
				ID: to.Ptr(nicID),
				Properties: &armcompute.NetworkInterfaceReferenceProperties{
					Primary: to.Ptr(true), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete),
				},
			}}},
		},
	}
	if spot {
		vm.Properties.Priority = to.Ptr(armcompute.VirtualMachinePriorityTypesSpot)
		vm.Properties.EvictionPolicy = to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDelete)
		vm.Properties.BillingProfile = &armcompute.BillingProfile{MaxPrice: to.Ptr(-1.0)}
	}
	return vm
}
