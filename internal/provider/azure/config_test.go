package azure

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

// mapSettings decodes by copying a prepared Config, standing in for a TOML block.
type mapSettings func(*Config)

func (m mapSettings) Decode(v any) error {
	m(v.(*Config))
	return nil
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"0.0.0.0/0"}, cfg.CIDRs()); d != "" {
		t.Errorf("cidrs (-want +got)\n%s", d)
	}
	got := []any{cfg.DefaultRegion, cfg.ResourceGroup, cfg.VnetName, cfg.SubnetName, cfg.NSGName, cfg.DefaultVMSize,
		cfg.ImagePublisher, cfg.ImageOffer, cfg.ImageSKU, cfg.ImageVersion, cfg.AdminUsername, cfg.OSDiskSizeGB, cfg.OSDiskType, cfg.PublicIP(), cfg.ContainerSSHPort}
	want := []any{"westus", "mngr", "mngr-vnet", "mngr-subnet", "mngr-nsg", "Standard_B2s", "Debian", "debian-12", "12-gen2", "latest", "azureuser", int32(30), "StandardSSD_LRS", true, 2222}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got)\n%s", d)
	}
}

func TestLoadConfigEmptyCIDRsStayEmpty(t *testing.T) {
	cfg, err := LoadConfig(mapSettings(func(c *Config) { e := []string{}; c.AllowedSSHCIDRs = &e }))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.CIDRs()); n != 0 {
		t.Errorf("CIDRs() = %v, want empty", cfg.CIDRs())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantKey string
	}{
		{"bad subscription", func(c *Config) { c.SubscriptionID = "nope" }, "subscription_id"},
		{"bad region", func(c *Config) { c.DefaultRegion = "West US" }, "default_region"},
		{"bad rg", func(c *Config) { c.ResourceGroup = "a/b" }, "resource_group"},
		{"bad vnet", func(c *Config) { c.VnetName = "-x" }, "vnet_name"},
		{"bad cidr", func(c *Config) { l := []string{"1.2.3.4/99"}; c.AllowedSSHCIDRs = &l }, "allowed_ssh_cidrs"},
		{"subnet outside vnet", func(c *Config) { c.SubnetAddressPrefix = "192.168.0.0/24" }, "subnet_address_prefix"},
		{"small disk", func(c *Config) { c.OSDiskSizeGB = 10 }, "os_disk_size_gb"},
		{"disk type", func(c *Config) { c.OSDiskType = "SSD" }, "os_disk_type"},
		{"admin root", func(c *Config) { c.AdminUsername = "root" }, "admin_username"},
		{"admin sys (one of Azure's 32)", func(c *Config) { c.AdminUsername = "sys" }, "admin_username"},
		{"admin backup", func(c *Config) { c.AdminUsername = "backup" }, "admin_username"},
		{"admin support_388945a0", func(c *Config) { c.AdminUsername = "support_388945a0" }, "admin_username"},
		{"admin a", func(c *Config) { c.AdminUsername = "a" }, "admin_username"},
		{"admin mngr is fine", func(c *Config) { c.AdminUsername = "mngr" }, ""},
		{"ultra os disk", func(c *Config) { c.OSDiskType = "UltraSSD_LRS" }, "data-disk type"},
		{"premium v2 os disk", func(c *Config) { c.OSDiskType = "PremiumV2_LRS" }, "data-disk type"},
		{"premium zrs os disk is fine", func(c *Config) { c.OSDiskType = "Premium_ZRS" }, ""},
		{"one-character vnet", func(c *Config) { c.VnetName = "v" }, "vnet_name"},
		{"65-character vnet", func(c *Config) { c.VnetName = strings.Repeat("v", 65) }, "vnet_name"},
		{"64-character vnet is fine", func(c *Config) { c.VnetName = strings.Repeat("v", 64) }, ""},
		{"80-character subnet is fine", func(c *Config) { c.SubnetName = strings.Repeat("s", 80) }, ""},
		{"81-character nsg", func(c *Config) { c.NSGName = strings.Repeat("n", 81) }, "nsg_name"},
		{"port 22", func(c *Config) { c.ContainerSSHPort = 22 }, "container_ssh_port"},
		{"unknown docker install", func(c *Config) { c.DockerInstall = "snap" }, "docker_install"},
		{"docker-ce install is fine", func(c *Config) { c.DockerInstall = "docker-ce" }, ""},
		{"bad size", func(c *Config) { c.DefaultVMSize = "Standard B2s" }, "default_vm_size"},
		{"unknown cloud", func(c *Config) { c.Cloud = "Mars" }, "cloud"},
		{"partial endpoint", func(c *Config) { c.ResourceManagerEndpoint = "https://127.0.0.1:1" }, "resource_manager_endpoint"},
		{"cloud and endpoint", func(c *Config) {
			c.Cloud = "AzurePublic"
			c.ResourceManagerEndpoint, c.ResourceManagerAudience, c.AuthorityHost = "https://a", "https://b", "https://c"
		}, "cloud"},
		{"valid custom cloud", func(c *Config) {
			c.ResourceManagerEndpoint, c.ResourceManagerAudience, c.AuthorityHost = "https://127.0.0.1:8443", "https://management.core.windows.net/", "https://127.0.0.1:8443/"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("Validate() = %v, want ErrInvalidInput naming %s", err, tt.wantKey)
			}
		})
	}
}
