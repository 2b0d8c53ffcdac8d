// Package azure is mngr's Azure provider: configuration, credentials, the ARM
// adapter implementing vps.VpsClient, prepare/cleanup, the agent-tag mirror
// and garbage collection.
package azure

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Config is the [providers.NAME] block of an Azure provider instance. It
// deliberately has no credential fields: credentials come only from
// DefaultAzureCredential.
type Config struct {
	SubscriptionID      string `toml:"subscription_id"`
	DefaultRegion       string `toml:"default_region"`
	ResourceGroup       string `toml:"resource_group"`
	VnetName            string `toml:"vnet_name"`
	SubnetName          string `toml:"subnet_name"`
	NSGName             string `toml:"nsg_name"`
	VnetAddressPrefix   string `toml:"vnet_address_prefix"`
	SubnetAddressPrefix string `toml:"subnet_address_prefix"`
	DefaultVMSize       string `toml:"default_vm_size"`
	ImagePublisher      string `toml:"image_publisher"`
	ImageOffer          string `toml:"image_offer"`
	ImageSKU            string `toml:"image_sku"`
	ImageVersion        string `toml:"image_version"`
	// Image chooses what creates start from: "" (the image_* marketplace
	// image), "baked" (the newest image mngr azure bake made for the
	// current recipe) or a gallery image or image version resource id.
	Image                   string    `toml:"image"`
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
	// DockerInstall is how a new VM gets Docker: "debian" (Debian's own
	// docker.io from the Debian archive) or "docker-ce" (Docker's apt
	// repository, its key checked against Docker's published fingerprint).
	DockerInstall string `toml:"docker_install"`
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
		DockerInstall:       vps.DockerInstallDebian,
	}
}

// LoadConfig decodes a settings block over the defaults and validates it.
func LoadConfig(s core.Settings) (Config, error) {
	cfg := DefaultConfig()
	if s != nil {
		if err := s.Decode(&cfg); err != nil {
			return Config{}, err
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
		return Config{}, locate(s, err)
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
	vnetNameRE  = core.LazyRegexp(`^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}[A-Za-z0-9_]$`)
	regionRE    = core.LazyRegexp(`^[a-z0-9]{2,40}$`)
	vmSizeRE    = core.LazyRegexp(`^[A-Za-z0-9_]{1,64}$`)
	adminUserRE = core.LazyRegexp(`^[a-z_][a-z0-9_-]{0,31}$`)
	uuidRE      = core.LazyRegexp(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// osDiskTypes are the managed disk types Azure accepts for an OS disk.
var osDiskTypes = []string{"Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "StandardSSD_ZRS", "Premium_ZRS"}

// dataDiskOnlyTypes are disk types Azure accepts only for data disks: the
// compute API's StorageAccountTypes says UltraSSD_LRS "can only be used
// with data disks", and Premium SSD v2 cannot be an OS disk either.
var dataDiskOnlyTypes = []string{"UltraSSD_LRS", "PremiumV2_LRS"}

// reservedAdminUsers are the admin user names Azure refuses for a VM, as
// the armcompute model comment on OSProfile.AdminUsername lists them (32).
var reservedAdminUsers = map[string]bool{
	"administrator": true, "admin": true, "user": true, "user1": true, "test": true, "user2": true, "test1": true, "user3": true,
	"admin1": true, "1": true, "123": true, "a": true, "actuser": true, "adm": true, "admin2": true, "aspnet": true,
	"backup": true, "console": true, "david": true, "guest": true, "john": true, "owner": true, "root": true, "server": true,
	"sql": true, "support": true, "support_388945a0": true, "sys": true, "test2": true, "test3": true, "user4": true, "user5": true,
}

// keyError is a bad value of one key of the block.
type keyError struct {
	key, msg string
}

func (e *keyError) Error() string {
	return fmt.Sprintf("invalid %s: %s: %s", e.key, e.msg, core.ErrInvalidInput)
}
func (e *keyError) Unwrap() error { return core.ErrInvalidInput }

func invalid(key, format string, args ...any) error {
	return &keyError{key: key, msg: fmt.Sprintf(format, args...)}
}

// locator is a settings block that can say where one of its keys was set
// (config's provider blocks can).
type locator interface {
	Locate(key string) (what, hint string)
}

// locate rewrites a keyError to name the key's full name and its file.
func locate(s core.Settings, err error) error {
	var ke *keyError
	l, ok := s.(locator)
	if !ok || !errors.As(err, &ke) {
		return err
	}
	what, hint := l.Locate(ke.key)
	return core.WithHint(fmt.Errorf("%s: %s: %w", what, ke.msg, core.ErrInvalidInput), "%s", hint)
}

// Validate checks every value of the block, naming the bad key.
func (c Config) Validate() error {
	if c.SubscriptionID != "" && !uuidRE().MatchString(c.SubscriptionID) {
		return invalid("subscription_id", "%q is not a GUID", c.SubscriptionID)
	}
	if err := checkImageChoice(c.Image); err != nil {
		return invalid("image", "%v", err)
	}
	if !regionRE().MatchString(c.DefaultRegion) {
		return invalid("default_region", "%q is not an Azure region name (lowercase letters and digits, like westus)", c.DefaultRegion)
	}
	if !rgNameRE().MatchString(c.ResourceGroup) || strings.HasSuffix(c.ResourceGroup, ".") {
		return invalid("resource_group", "%q must be 1-90 letters, digits, '-', '_', '.', '(' or ')' and not end with '.'", c.ResourceGroup)
	}
	if !vnetNameRE().MatchString(c.VnetName) {
		return invalid("vnet_name", "%q must be 2-64 letters, digits, '-', '_' or '.', start alphanumeric and end alphanumeric or '_' (Azure's virtual network name rule)", c.VnetName)
	}
	for _, kv := range [][2]string{{"subnet_name", c.SubnetName}, {"nsg_name", c.NSGName}} {
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
	if !adminUserRE().MatchString(c.AdminUsername) {
		return invalid("admin_username", "%q must be a lowercase Linux user name of at most 32 characters", c.AdminUsername)
	}
	if reservedAdminUsers[c.AdminUsername] {
		return invalid("admin_username", "Azure refuses %q as a VM admin user (it refuses 32 names, among them root, admin, administrator, user, test, guest, sys, backup, owner, support and sql); pick another, like the default azureuser", c.AdminUsername)
	}
	if c.OSDiskSizeGB < 30 || c.OSDiskSizeGB > 4095 {
		return invalid("os_disk_size_gb", "%d must be between 30 and 4095", c.OSDiskSizeGB)
	}
	if slices.Contains(dataDiskOnlyTypes, c.OSDiskType) {
		return invalid("os_disk_type", "%s is a data-disk type: Azure refuses it for an OS disk; use one of %s", c.OSDiskType, strings.Join(osDiskTypes, ", "))
	}
	if !slices.Contains(osDiskTypes, c.OSDiskType) {
		return invalid("os_disk_type", "%q: valid OS disk types are %s", c.OSDiskType, strings.Join(osDiskTypes, ", "))
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
	if c.DockerInstall != vps.DockerInstallDebian && c.DockerInstall != vps.DockerInstallCE {
		return invalid("docker_install", "%q: want %q (Debian's docker.io) or %q (Docker's repository)", c.DockerInstall, vps.DockerInstallDebian, vps.DockerInstallCE)
	}
	if _, err := c.cloudConfig(); err != nil {
		return err
	}
	return nil
}
