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

// baseTags are the six fixed tags of every mngr resource of a host.
func (c *Client) baseTags(req vps.CreateInstanceRequest) map[string]*string {
	tags := map[string]*string{
		tagManagedBy: to.Ptr(tagManagedByMngr),
		tagProvider:  to.Ptr(c.providerName),
		tagHostID:    to.Ptr(string(req.HostID)),
		tagHostName:  to.Ptr(req.HostName),
		tagCreatedAt: to.Ptr(strconv.FormatInt(c.now().Unix(), 10)),
		tagCreator:   to.Ptr(creatorValue()),
	}
	if b := req.ProviderArgs.Extra[extraBuilder]; b != "" {
		// An image builder: gc takes it once its bake has ended.
		tags[tagBuilder] = to.Ptr(b)
	}
	return tags
}

// VMSpec is the desired state of one host for one (region, size) create
// attempt: the VM and, named after NetBase, its NIC and public IP (STYLE 5).
// Its methods render the SDK models without any Azure call. NICID and
// PublicIPID are Azure's ids of the attempt's NIC and IP, known once they
// exist.
type VMSpec struct {
	// Name is the VM's resource name and its Linux computer name.
	Name string
	// NetBase names the attempt's NIC and public IP (nicName, ipName).
	NetBase string
	// Region and Size are the candidate's Azure region and VM size.
	Region, Size string
	// Spot asks for an evictable Spot VM (deleted on eviction, no price cap).
	Spot bool
	// ImagePublisher, ImageOffer, ImageSKU and ImageVersion name the OS image.
	ImagePublisher, ImageOffer, ImageSKU, ImageVersion string
	// ImageID, when set, is the gallery image (version) the VM starts
	// from instead (a baked image, see bake.go).
	ImageID string
	// OSDiskSizeGB and OSDiskType size the managed OS disk.
	OSDiskSizeGB int32
	// OSDiskType is the disk's storage account type, like Premium_LRS.
	OSDiskType string
	// AdminUsername is the VM's SSH login; its key is SSHPublicKey.
	AdminUsername, SSHPublicKey string
	// CustomData is the cloud-init user data, base64-encoded in the model.
	CustomData []byte
	// SubnetID is the prepared subnet the NIC joins.
	SubnetID string
	// PublicIPID is the attempt's public IP; empty for a host without one.
	PublicIPID string
	// NICID is the attempt's NIC.
	NICID string
	// Tags go on the VM, NIC and public IP alike.
	Tags map[string]*string
	// IdentityID is the user-assigned identity the VM is given (the one
	// prepare made, holding the self-deallocate role on the resource
	// group); empty for a VM without identity.
	IdentityID string
}

// vmSpec is the VMSpec of one create attempt, from the provider's config.
func (c *Client) vmSpec(req vps.CreateInstanceRequest, name, netBase, region, size string, tags map[string]*string) VMSpec {
	return VMSpec{
		Name: name, NetBase: netBase, Region: region, Size: size, Spot: req.ProviderArgs.Spot,
		ImagePublisher: c.cfg.ImagePublisher, ImageOffer: c.cfg.ImageOffer, ImageSKU: c.cfg.ImageSKU, ImageVersion: c.cfg.ImageVersion,
		OSDiskSizeGB: c.cfg.OSDiskSizeGB, OSDiskType: c.cfg.OSDiskType,
		AdminUsername: c.cfg.AdminUsername, SSHPublicKey: req.AdminPublicKey, CustomData: req.UserData,
		SubnetID: c.subnetID(), Tags: tags, ImageID: req.ProviderArgs.Extra[extraImageID],
	}
}

// NICName is the name of the attempt's NIC.
func (s VMSpec) NICName() string { return nicName(s.NetBase) }

// PublicIPName is the name of the attempt's public IP.
func (s VMSpec) PublicIPName() string { return ipName(s.NetBase) }

// PublicIPParameters renders the static Standard public IP of the host.
func (s VMSpec) PublicIPParameters() armnetwork.PublicIPAddress {
	return armnetwork.PublicIPAddress{
		Location: to.Ptr(s.Region),
		Tags:     s.Tags,
		SKU:      &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{
			PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic),
			PublicIPAddressVersion:   to.Ptr(armnetwork.IPVersionIPv4),
		},
	}
}

// NICParameters renders the NIC in the prepared subnet; the public IP, if
// any, is deleted with the VM via the ipConfiguration's deleteOption.
func (s VMSpec) NICParameters() armnetwork.Interface {
	ipProps := &armnetwork.InterfaceIPConfigurationPropertiesFormat{
		Subnet:                    &armnetwork.Subnet{ID: to.Ptr(s.SubnetID)},
		PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic),
		Primary:                   to.Ptr(true),
	}
	if s.PublicIPID != "" {
		ipProps.PublicIPAddress = &armnetwork.PublicIPAddress{
			ID:         to.Ptr(s.PublicIPID),
			Properties: &armnetwork.PublicIPAddressPropertiesFormat{DeleteOption: to.Ptr(armnetwork.DeleteOptionsDelete)},
		}
	}
	return armnetwork.Interface{
		Location: to.Ptr(s.Region),
		Tags:     s.Tags,
		Properties: &armnetwork.InterfacePropertiesFormat{
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{Name: to.Ptr("ipconfig1"), Properties: ipProps}},
		},
	}
}

// Parameters renders the VM: the shared user-assigned identity (for
// self-deallocate; attaching it assigns no role), key-only SSH, and an OS
// disk and NIC deleted with it; a Spot VM is deleted on eviction and pays
// up to the on-demand price.
func (s VMSpec) Parameters() armcompute.VirtualMachine {
	vm := armcompute.VirtualMachine{
		Location: to.Ptr(s.Region),
		Tags:     s.Tags,
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(s.Size))},
			StorageProfile: &armcompute.StorageProfile{
				ImageReference: &armcompute.ImageReference{
					Publisher: to.Ptr(s.ImagePublisher), Offer: to.Ptr(s.ImageOffer),
					SKU: to.Ptr(s.ImageSKU), Version: to.Ptr(s.ImageVersion),
				},
				OSDisk: &armcompute.OSDisk{
					// Named, so an interrupted create can say which disk may remain.
					Name:         to.Ptr(osDiskName(s.Name)),
					CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
					DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
					DiskSizeGB:   to.Ptr(s.OSDiskSizeGB),
					ManagedDisk:  &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypes(s.OSDiskType))},
				},
			},
			OSProfile: &armcompute.OSProfile{
				ComputerName:  to.Ptr(s.Name),
				AdminUsername: to.Ptr(s.AdminUsername),
				CustomData:    to.Ptr(base64.StdEncoding.EncodeToString(s.CustomData)),
				LinuxConfiguration: &armcompute.LinuxConfiguration{
					DisablePasswordAuthentication: to.Ptr(true),
					SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
						Path:    to.Ptr("/home/" + s.AdminUsername + "/.ssh/authorized_keys"),
						KeyData: to.Ptr(strings.TrimSpace(s.SSHPublicKey)),
					}}},
				},
			},
			NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{
				ID: to.Ptr(s.NICID),
				Properties: &armcompute.NetworkInterfaceReferenceProperties{
					Primary: to.Ptr(true), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete),
				},
			}}},
		},
	}
	if s.ImageID != "" {
		vm.Properties.StorageProfile.ImageReference = &armcompute.ImageReference{ID: to.Ptr(s.ImageID)}
	}
	if s.IdentityID != "" {
		vm.Identity = &armcompute.VirtualMachineIdentity{
			Type:                   to.Ptr(armcompute.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armcompute.UserAssignedIdentitiesValue{s.IdentityID: {}},
		}
	}
	if s.Spot {
		vm.Properties.Priority = to.Ptr(armcompute.VirtualMachinePriorityTypesSpot)
		vm.Properties.EvictionPolicy = to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDelete)
		vm.Properties.BillingProfile = &armcompute.BillingProfile{MaxPrice: to.Ptr(-1.0)}
	}
	return vm
}
