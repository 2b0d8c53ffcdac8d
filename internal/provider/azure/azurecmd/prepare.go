package azurecmd

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/cli"
	"github.com/mngr-azure/mngr/internal/provider/azure"
)

type prepareOptions struct {
	commonOptions
	AllowedSSHCIDRs []string
	cidrsSet        bool
	PrintRole       bool
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
		Long: `Register the Microsoft.Compute, Microsoft.Network and
Microsoft.ManagedIdentity resource providers, then create the resource group,
the network security group (allowing tcp/22 and the container SSH port from
--allowed-ssh-cidr, else from the block's allowed_ssh_cidrs), the virtual
network, the subnet bound to that NSG, the custom role mngr-self-deallocate,
the user-assigned managed identity mngr-vm-identity holding that role on the
resource group (every VM is given this identity), and the custom role
mngr-operator: exactly what the daily commands (create, list, stop, start,
destroy, gc) do, without any role or role-assignment write. The group, NSG,
vnet and identity are tagged managed-by=mngr and mngr-provider=NAME.

Prepare is the one privileged step (Owner or User Access Administrator on
the resource group, for the roles and the identity's role assignment). The
credential of daily work then needs only mngr-operator on the resource
group; assign it with az role assignment create (see docs/azure.md).

With --print-role, prepare only prints the mngr-operator role as JSON for
az role definition create, and makes no Azure call.

Idempotent: a resource that exists is kept as it is (the roles' actions
follow this mngr version). When the identity may not create roles, the
managed identity or its role assignment, prepare warns that idle
self-deallocation is disabled and succeeds; mngr stop still deallocates.

Prepare never widens who may connect through an existing NSG unless told. Re-run without
--allowed-ssh-cidr and without allowed_ssh_cidrs in the block, its SSH rules
keep the sources they allow. allowed_ssh_cidrs in the block narrows them;
when it would widen them prepare asks on a terminal and refuses otherwise.
--allowed-ssh-cidr sets them, narrower or wider (--allowed-ssh-cidr
0.0.0.0/0 opens SSH to everyone). Rules of your own on the NSG are kept.`,
		Example: `  # Prepare the default instance (block [providers.azure], or no block)
  mngr azure prepare --allowed-ssh-cidr 203.0.113.4/32

  # Print the operator role for an administrator to create
  mngr azure prepare --print-role

  # Prepare the instance of block [providers.azure-west]
  mngr azure prepare --provider azure-west

  # Another subscription, region and resource group than the block's
  mngr azure prepare --subscription-id 00000000-0000-0000-0000-000000000000 --region eastus --resource-group mngr-eastus`,
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.PrintRole, "print-role", false, "only print the mngr-operator role as JSON (for az role definition create); no Azure call")
	cmd.Flags().StringArrayVar(&opts.AllowedSSHCIDRs, "allowed-ssh-cidr", nil, "inbound CIDR for tcp/22 and the container port (repeatable); sets the rules of an existing NSG too, wider or narrower (default: the block's allowed_ssh_cidrs, else an existing NSG's sources, else 0.0.0.0/0)")
	return cmd
}

func prepareRun(cmd *cobra.Command, f *cli.Factory, opts *prepareOptions) error {
	client, err := loadClient(f, &opts.commonOptions, opts.AllowedSSHCIDRs, opts.cidrsSet)
	if err != nil {
		return err
	}
	if opts.PrintRole {
		b, err := client.OperatorRoleJSON()
		if err != nil {
			return err
		}
		_, err = f.IO.Out.Write(b)
		return err
	}
	src := azure.CIDRsFromFlag
	if !opts.cidrsSet {
		set, err := blockSetsCIDRs(f, opts.Provider)
		if err != nil {
			return err
		}
		src = azure.CIDRsDefault
		if set {
			src = azure.CIDRsFromSettings
		}
	}
	ctx := cmd.Context()
	res, err := client.Prepare(ctx, azure.PrepareOptions{CIDRSource: src, ConfirmWiden: confirmWiden(f)})
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

// blockSetsCIDRs says whether the provider's settings block names
// allowed_ssh_cidrs (rather than leaving the default).
func blockSetsCIDRs(f *cli.Factory, provider string) (bool, error) {
	_, s, err := f.ProviderBlock(provider)
	if err != nil || s == nil {
		return false, err
	}
	var cfg azure.Config
	if err := s.Decode(&cfg); err != nil {
		return false, fmt.Errorf("decode [providers.%s]: %w", provider, err)
	}
	return cfg.AllowedSSHCIDRs != nil, nil
}

// confirmWiden asks on the terminal whether the NSG's SSH rules may allow
// more sources; nil (refuse) when stdin or stderr is not a terminal or the
// output is not for people.
func confirmWiden(f *cli.Factory) func(from, to []string) bool {
	if !f.IO.InIsTerminal || !f.IO.ErrIsTerminal || f.Format() != cli.FormatHuman {
		return nil
	}
	return func(from, to []string) bool {
		now := strings.Join(from, ", ")
		if now == "" {
			now = "no source"
		}
		_, _ = fmt.Fprintf(f.IO.ErrOut, "The network security group's SSH rules allow %s; allowed_ssh_cidrs widens them to %s. Widen them? [y/N] ",
			now, strings.Join(to, ", "))
		line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes"
	}
}
