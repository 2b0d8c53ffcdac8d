// Package azurecmd is the `mngr azure` command group: prepare and cleanup of
// the shared Azure infrastructure.
package azurecmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/cli"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/provider/azure"
)

// NewCmdAzure returns the `mngr azure` group (a cli.GroupFunc).
func NewCmdAzure(f *cli.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "azure",
		Short: "Prepare or clean up the shared Azure infrastructure; bake host images",
		Long: `Prepare or clean up the infrastructure every Azure provider instance shares:
its resource group, virtual network, subnet, network security group, the
managed identity and custom role VMs use to deallocate themselves, and the
mngr-operator role daily commands need. Both commands read the
[providers.NAME] block named by --provider (default azure); their flags
override that block.`,
		Example: `  # One-time setup, allowing SSH only from your own address
  mngr azure prepare --allowed-ssh-cidr 203.0.113.4/32

  # Tear it down once every agent is destroyed
  mngr azure cleanup`,
	}
	cmd.AddCommand(newCmdPrepare(f, nil), newCmdCleanup(f, nil), newCmdBake(f, nil))
	return cmd
}

// commonOptions are the flags prepare and cleanup share.
type commonOptions struct {
	Provider       string
	SubscriptionID string
	Region         string
	ResourceGroup  string
}

func (o *commonOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.Provider, "provider", "azure", "provider instance whose [providers.NAME] block to use")
	fl.StringVar(&o.SubscriptionID, "subscription-id", "", "Azure subscription (default: config, AZURE_SUBSCRIPTION_ID, az login)")
	fl.StringVar(&o.Region, "region", "", "Azure region (default: the block's default_region)")
	fl.StringVar(&o.ResourceGroup, "resource-group", "", "resource group (default: the block's resource_group)")
}

// loadClient resolves the block of o.Provider, applies the flags over it and builds the ARM client.
func loadClient(f *cli.Factory, o *commonOptions, cidrs []string, cidrsSet bool) (*azure.Client, error) {
	backend, s, err := f.ProviderBlock(o.Provider)
	if err != nil {
		return nil, err
	}
	if backend != "azure" {
		return nil, core.WithHint(fmt.Errorf("provider %q has backend %q, not azure: %w", o.Provider, backend, core.ErrInvalidInput),
			"pass --provider with the name of a [providers.NAME] block whose backend is \"azure\"")
	}
	cfg := azure.DefaultConfig()
	if s != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("decode [providers.%s]: %w", o.Provider, err)
		}
	}
	if o.SubscriptionID != "" {
		cfg.SubscriptionID = o.SubscriptionID
	}
	if o.Region != "" {
		cfg.DefaultRegion = o.Region
	}
	if o.ResourceGroup != "" {
		cfg.ResourceGroup = o.ResourceGroup
	}
	if cidrsSet {
		c := append([]string{}, cidrs...)
		cfg.AllowedSSHCIDRs = &c
	}
	cfg, err = azure.LoadConfig(configSettings{cfg})
	if err != nil {
		return nil, err
	}
	return azure.NewClient(o.Provider, cfg, azure.ClientOptions{Getenv: f.Env().Getenv})
}

// configSettings re-validates an already merged Config through LoadConfig.
type configSettings struct{ cfg azure.Config }

func (c configSettings) Decode(v any) error {
	p, ok := v.(*azure.Config)
	if !ok {
		return fmt.Errorf("decode azure config into %T: %w", v, core.ErrInvalidInput)
	}
	*p = c.cfg
	return nil
}
