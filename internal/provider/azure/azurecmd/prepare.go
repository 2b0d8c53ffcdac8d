package azurecmd

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/cli"
	"github.com/mngr-azure/mngr/internal/provider/azure"
)

type prepareOptions struct {
	commonOptions
	AllowedSSHCIDRs []string
	cidrsSet        bool
}

func newCmdPrepare(f *cli.Factory, runF func(*cobra.Command, *prepareOptions) error) *cobra.Command {
	opts := &prepareOptions{}
	cmd := &cobra.Command{
		Use:   "prepare",
		Short: "Create the resource group, network and role mngr's Azure VMs need (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.cidrsSet = cmd.Flags().Changed("allowed-ssh-cidr")
			if runF != nil {
				return runF(cmd, opts)
			}
			return prepareRun(cmd, f, opts)
		},
		Long: `Register the Microsoft.Compute, Microsoft.Network and Microsoft.Storage
resource providers, then create the resource group, the network security
group (allowing tcp/22 and the container SSH port from --allowed-ssh-cidr, else
from the block's allowed_ssh_cidrs), the virtual network, the subnet bound to
that NSG, and the custom role mngr-self-deallocate (assignable in the resource
group). The group, NSG and vnet are tagged managed-by=mngr and
mngr-provider=NAME.

Idempotent: a resource that exists is kept as it is, so re-running prepare
does not change the rules of an existing NSG. When the identity may not
create roles, prepare warns that idle self-deallocation is disabled and
succeeds; mngr stop still deallocates.`,
		Example: `  # Prepare the default instance (block [providers.azure], or no block)
  mngr azure prepare --allowed-ssh-cidr 203.0.113.4/32

  # Prepare the instance of block [providers.azure-west]
  mngr azure prepare --provider azure-west

  # Another subscription, region and resource group than the block's
  mngr azure prepare --subscription-id 00000000-0000-0000-0000-000000000000 --region eastus --resource-group mngr-eastus`,
	}
	opts.addFlags(cmd)
	cmd.Flags().StringArrayVar(&opts.AllowedSSHCIDRs, "allowed-ssh-cidr", nil, "inbound CIDR for tcp/22 and the container port (repeatable; default: the block's allowed_ssh_cidrs)")
	return cmd
}

func prepareRun(cmd *cobra.Command, f *cli.Factory, opts *prepareOptions) error {
	client, err := loadClient(f, &opts.commonOptions, opts.AllowedSSHCIDRs, opts.cidrsSet)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	res, err := client.Prepare(ctx, azure.PrepareOptions{})
	if err != nil {
		return fmt.Errorf("prepare azure provider %q: %w", opts.Provider, err)
	}
	// Warnings are not repeated here: the progress stream (stderr) has
	// given each once already, and --format json has them in "warnings".
	events := make([]any, 0, len(res.Resources)+1)
	for _, r := range res.Resources {
		events = append(events, map[string]any{"event": "resource", "kind": r.Kind, "name": r.Name, "id": r.ID, "created": r.Created, "updated": r.Updated})
	}
	events = append(events, map[string]any{"event": "prepared", "provider": res.Provider, "subscription_id": res.Subscription, "region": res.Region, "resource_group": res.ResourceGroup})
	return cli.Emit(f.IO, f.Format(), func(w io.Writer) error {
		for _, r := range res.Resources {
			state := "exists"
			switch {
			case r.Created:
				state = "created"
			case r.Updated:
				state = "updated"
			}
			if _, err := fmt.Fprintf(w, "%-24s %-32s %s\n", r.Kind, r.Name, state); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(w, "Prepared provider %s: resource group %s in %s (subscription %s)\n", res.Provider, res.ResourceGroup, res.Region, res.Subscription)
		return err
	}, res, events)
}
