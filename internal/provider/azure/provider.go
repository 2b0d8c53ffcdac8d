package azure

import (
	"context"
	"fmt"
	"os"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Backend returns the "azure" backend; the default instance "azure" exists
// without a config block (subscription from the az CLI profile).
func Backend() core.Backend {
	return core.Backend{
		Name:            "azure",
		Description:     "agents in Docker containers on Azure VMs",
		DefaultInstance: true,
		New:             newProvider,
		CheckSettings: func(s core.Settings) error {
			_, err := LoadConfig(s)
			return err
		},
	}
}

// newProvider decodes the block and wraps the ARM client in the VPS host layer.
// It makes no network call.
func newProvider(_ context.Context, name string, s core.Settings, env core.Env) (core.Provider, error) {
	cfg, err := LoadConfig(s)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", name, err)
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	client, err := NewClient(name, cfg, ClientOptions{Getenv: getenv})
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", name, err)
	}
	vc := vps.Config{
		ProviderName:        name,
		Backend:             "azure",
		Prefix:              env.Prefix,
		LocalHostDir:        env.HostDir,
		ContainerSSHPort:    cfg.ContainerSSHPort,
		AdminUser:           cfg.AdminUsername,
		AutoShutdownSeconds: cfg.AutoShutdownSeconds,
		DockerInstall:       cfg.DockerInstall,
	}
	if cfg.IdleTimeoutSeconds != nil {
		vc.IdleTimeoutSeconds = *cfg.IdleTimeoutSeconds
	}
	vc.ApplyEnv(getenv)
	p, err := vps.NewProvider(client, vc)
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", name, err)
	}
	return p, nil
}
