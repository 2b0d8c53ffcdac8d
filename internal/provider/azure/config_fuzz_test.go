package azure

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mngr-azure/mngr/internal/config"
	"github.com/mngr-azure/mngr/internal/core"
)

// loadFuzzBlock writes block as the [providers.azure] section of a user
// settings file under home and runs it through config.Load and LoadConfig.
func loadFuzzBlock(t *testing.T, home, block string) (Config, error) {
	t.Helper()
	dir := filepath.Join(home, ".mngr")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.toml"), []byte("[providers.azure]\n"+block+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.LoadOptions{
		WorkDir: home,
		Getenv:  func(k string) string { return map[string]string{"HOME": home}[k] },
		Environ: func() []string { return nil },
	})
	if err != nil {
		return Config{}, err
	}
	b, ok := c.Provider("azure")
	if !ok {
		t.Fatalf("settings file with [providers.azure] has no azure block")
	}
	return LoadConfig(b)
}

// FuzzLoadConfigTOML decodes a fuzzed [providers.azure] block through the
// real settings loader and LoadConfig: it must not panic; a rejection wraps
// core.ErrInvalidInput; an accepted config passes Validate again and keeps
// every string value it was given.
func FuzzLoadConfigTOML(f *testing.F) {
	for _, s := range []string{
		"default_region = \"eastus\"\nallowed_ssh_cidrs = [\"10.0.0.0/8\"]\n",
		"subscription_id = \"22222222-2222-2222-2222-222222222222\"\nos_disk_size_gb = 64\n",
		"os_disk_size_gb = 99999999999\n",
		"allowed_ssh_cidrs = []\nassociate_public_ip = false\n",
		"resource_group = \"a/b\"\n",
		"admin_username = \"root\"\n",
		"client_secret = \"x\"\n",
		"vnet_address_prefix = \"10.0.0.0/8\"\nsubnet_address_prefix = \"10.1.0.0/16\"\n",
		"idle_timeout_seconds = -1\nauthority_host = \"http://x\"\n",
	} {
		f.Add(s)
	}
	home := f.TempDir()
	f.Fuzz(func(t *testing.T, block string) {
		cfg, err := loadFuzzBlock(t, home, block)
		if err != nil {
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("rejection does not wrap ErrInvalidInput: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig returned a config Validate rejects: %v", err)
		}
		if cfg.AllowedSSHCIDRs == nil || cfg.AssociatePublicIP == nil {
			t.Fatal("LoadConfig left a defaulted pointer nil")
		}
	})
}
