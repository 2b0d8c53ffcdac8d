// Package azure is mngr's Azure provider: configuration, credentials, the ARM
// adapter implementing vps.VpsClient, prepare/cleanup, the agent-tag mirror
// and garbage collection.
package azure

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

// Config is the [providers.NAME] block of an Azure provider instance. It
// deliberately has no credential fields: credentials come only from
// DefaultAzureCredential.
type Config struct {
	SubscriptionID          string    `toml:"subscription_id"`
	DefaultRegion           string    `toml:"default_region"`
	ResourceGroup           string    `toml:"resource_group"`
	VnetName                string    `toml:"vnet_name"`
	SubnetName              string    `toml:"subnet_name"`
	NSGName                 string    `toml:"nsg_name"`
	VnetAddressPrefix       string    `toml:"vnet_address_prefix"`
	SubnetAddressPrefix     string    `toml:"subnet_address_prefix"`
	DefaultVMSize           string    `toml:"default_vm_size"`
	ImagePublisher          string    `toml:"image_publisher"`
	ImageOffer              string    `toml:"image_offer"`
	ImageSKU                string    `toml:"image_sku"`
	ImageVersion            string    `toml:"image_version"`
	AdminUsername           string    `toml:"admin_username"`
	OSDiskSizeGB            int32     `toml:"os_disk_size_gb"`
	OSDiskType              string    `toml:"os_disk_type"`
	AllowedSSHCIDRs         *[]string `toml:"allowed_ssh_cidrs"`
	AssociatePublicIP       *bool     `toml:"associate_public_ip"`
	ContainerSSHPort        int       `toml:"container_ssh_port"`
	AutoShutdownSeconds     int       `toml:"auto_shutdown_seconds"`
	IdleTimeoutSeconds      *int      `toml:"idle_timeout_seconds"`
	Cloud                   string    `toml:"cloud"`
	ResourceManagerEndpoint string    `toml:"resource_manager_endpoint"`
	ResourceManagerAudience string    `toml:"resource_manager_audience"`
	AuthorityHost           string    `toml:"authority_host"`
	// CapacityPrecheck asks create to read the region's VM SKUs and core
	// quota before any write and skip sizes that cannot succeed.
	CapacityPrecheck bool `toml:"capacity_precheck"`
}

// DefaultConfig returns the block's defaults.
func DefaultConfig() Config {
	cidrs := []string{core.DefaultAllowedSSHCIDR}
	pub := true
	return Config{
		DefaultRegion:       "westus",
		ResourceGroup:       "mngr",
		VnetName:            "mngr-vnet",
		SubnetName:          "mngr-subnet",
		NSGName:             "mngr-nsg",
		VnetAddressPrefix:   "10.0.0.0/16",
		SubnetAddressPrefix: "10.0.0.0/24",
		DefaultVMSize:       "Standard_B2s",
		ImagePublisher:      "Debian",
		ImageOffer:          "debian-12",
		ImageSKU:            "12-gen2",
		ImageVersion:        "latest",
		AdminUsername:       "azureuser",
		OSDiskSizeGB:        30,
		OSDiskType:          "StandardSSD_LRS",
		AllowedSSHCIDRs:     &cidrs,
		AssociatePublicIP:   &pub,
		ContainerSSHPort:    core.DefaultContainerSSHPort,
	}
}

// LoadConfig decodes a settings block over the defaults and validates it.
func LoadConfig(s core.Settings) (Config, error) {
	cfg := DefaultConfig()
	if s != nil {
		if err := s.Decode(&cfg); err != nil {
			return Config{}, fmt.Errorf("decode azure settings: %w", err)
		}
	}
	if cfg.AllowedSSHCIDRs == nil {
		cidrs := []string{core.DefaultAllowedSSHCIDR}
		cfg.AllowedSSHCIDRs = &cidrs
	}
	if cfg.AssociatePublicIP == nil {
		pub := true
		cfg.AssociatePublicIP = &pub
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// CIDRs returns the allowed SSH source ranges; an empty list means no allow rule.
func (c Config) CIDRs() []string {
	if c.AllowedSSHCIDRs == nil {
		return []string{core.DefaultAllowedSSHCIDR}
	}
	return *c.AllowedSSHCIDRs
}

// PublicIP reports whether VMs get a public IP.
func (c Config) PublicIP() bool { return c.AssociatePublicIP == nil || *c.AssociatePublicIP }

var (
	rgNameRE    = core.LazyRegexp(`^[-\w._()]{1,90}$`)
	netNameRE   = core.LazyRegexp(`^[A-Za-z0-9][-A-Za-z0-9_.]{0,78}[A-Za-z0-9_]$|^[A-Za-z0-9]$`)
	regionRE    = core.LazyRegexp(`^[a-z0-9]{2,40}$`)
	vmSizeRE    = core.LazyRegexp(`^[A-Za-z0-9_]{1,64}$`)
	adminUserRE = core.LazyRegexp(`^[a-z_][a-z0-9_-]{0,31}$`)
	uuidRE      = core.LazyRegexp(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

var diskTypes = []string{"Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS", "PremiumV2_LRS", "UltraSSD_LRS"}

var reservedAdminUsers = map[string]bool{"root": true, "admin": true, "administrator": true, "user": true, "guest": true, "test": true}

func invalid(key, format string, args ...any) error {
	return fmt.Errorf("invalid %s: %s: %w", key, fmt.Sprintf(format, args...), core.ErrInvalidInput)
}

// Validate checks every value of the block, naming the bad key.
func (c Config) Validate() error {
	if c.SubscriptionID != "" && !uuidRE().MatchString(c.SubscriptionID) {
		return invalid("subscription_id", "%q is not a GUID", c.SubscriptionID)
	}
	if !regionRE().MatchString(c.DefaultRegion) {
		return invalid("default_region", "%q is not an Azure region name (lowercase letters and digits, like westus)", c.DefaultRegion)
	}
	if !rgNameRE().MatchString(c.ResourceGroup) || strings.HasSuffix(c.ResourceGroup, ".") {
		return invalid("resource_group", "%q must be 1-90 letters, digits, '-', '_', '.', '(' or ')' and not end with '.'", c.ResourceGroup)
	}
	for _, kv := range [][2]string{{"vnet_name", c.VnetName}, {"subnet_name", c.SubnetName}, {"nsg_name", c.NSGName}} {
		if !netNameRE().MatchString(kv[1]) {
			return invalid(kv[0], "%q must be 1-80 letters, digits, '-', '_' or '.', start alphanumeric and end alphanumeric or '_'", kv[1])
		}
	}
	vnet, err := netip.ParsePrefix(c.VnetAddressPrefix)
	if err != nil || !vnet.Addr().Is4() {
		return invalid("vnet_address_prefix", "%q is not an IPv4 CIDR", c.VnetAddressPrefix)
	}
	sub, err := netip.ParsePrefix(c.SubnetAddressPrefix)
	if err != nil || !sub.Addr().Is4() {
		return invalid("subnet_address_prefix", "%q is not an IPv4 CIDR", c.SubnetAddressPrefix)
	}
	if sub.Bits() < vnet.Bits() || !vnet.Contains(sub.Addr()) {
		return invalid("subnet_address_prefix", "%s is not inside vnet_address_prefix %s", sub, vnet)
	}
	if sub.Bits() > 29 {
		return invalid("subnet_address_prefix", "%s is smaller than Azure's minimum subnet /29", sub)
	}
	if !vmSizeRE().MatchString(c.DefaultVMSize) {
		return invalid("default_vm_size", "%q is not a VM size name like Standard_B2s", c.DefaultVMSize)
	}
	for _, kv := range [][2]string{{"image_publisher", c.ImagePublisher}, {"image_offer", c.ImageOffer}, {"image_sku", c.ImageSKU}, {"image_version", c.ImageVersion}} {
		if strings.TrimSpace(kv[1]) == "" {
			return invalid(kv[0], "must not be empty")
		}
	}
	if !adminUserRE().MatchString(c.AdminUsername) || reservedAdminUsers[c.AdminUsername] {
		return invalid("admin_username", "%q must be a lowercase Linux user name (not root/admin/administrator/user/guest/test)", c.AdminUsername)
	}
	if c.OSDiskSizeGB < 30 || c.OSDiskSizeGB > 4095 {
		return invalid("os_disk_size_gb", "%d must be between 30 and 4095", c.OSDiskSizeGB)
	}
	okDisk := false
	for _, d := range diskTypes {
		okDisk = okDisk || d == c.OSDiskType
	}
	if !okDisk {
		return invalid("os_disk_type", "%q: valid types are %s", c.OSDiskType, strings.Join(diskTypes, ", "))
	}
	for _, cidr := range c.CIDRs() {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return invalid("allowed_ssh_cidrs", "%q is not a CIDR like 203.0.113.4/32", cidr)
		}
	}
	if c.ContainerSSHPort < 1 || c.ContainerSSHPort > 65535 || c.ContainerSSHPort == 22 {
		return invalid("container_ssh_port", "%d must be a TCP port other than 22", c.ContainerSSHPort)
	}
	if c.AutoShutdownSeconds < 0 {
		return invalid("auto_shutdown_seconds", "%d must not be negative", c.AutoShutdownSeconds)
	}
	if _, err := c.cloudConfig(); err != nil {
		return err
	}
	return nil
}
