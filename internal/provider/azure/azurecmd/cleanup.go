package azurecmd

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/cli"
	"github.com/mngr-azure/mngr/internal/provider/azure"
)

type cleanupOptions struct {
	commonOptions
	Force bool
}

func newCmdCleanup(f *cli.Factory, runF func(*cobra.Command, *cleanupOptions) error) *cobra.Command {
	opts := &cleanupOptions{}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete mngr's resource group (refused while mngr VMs exist; idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return cleanupRun(cmd, f, opts)
		},
		Long: `Delete the resource group of the provider instance, with its vnet, subnet
and NSG, after removing the managed identity mngr-vm-identity and its role
assignment, and remove that group from the custom roles mngr-self-deallocate
and mngr-operator (a role is deleted with its last group). cleanup refuses while a mngr VM exists
in the group (destroy those agents first), refuses while baked images
(mngr azure bake) exist unless --force, which deletes them and their gallery
first, and refuses a group that is not tagged managed-by=mngr. A group that
does not exist is not an error.`,
		Example: `  # Delete the resource group of the default instance
  mngr azure cleanup

  # Delete the resource group of block [providers.azure-west]
  mngr azure cleanup --provider azure-west`,
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "delete the baked images and their Compute Gallery too (cleanup refuses while they exist otherwise)")
	return cmd
}

func cleanupRun(cmd *cobra.Command, f *cli.Factory, opts *cleanupOptions) error {
	client, err := loadClient(f, &opts.commonOptions, nil, false)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	res, err := client.CleanupWith(ctx, azure.CleanupOptions{Force: opts.Force})
	if err != nil {
		return fmt.Errorf("clean up azure provider %q: %w", opts.Provider, err)
	}
	ev := map[string]any{"event": "cleaned_up", "provider": res.Provider, "resource_group": res.ResourceGroup, "deleted": res.Deleted, "existed": res.Existed}
	return cli.Emit(f.IO, f.Format(), func(w io.Writer) error {
		msg := fmt.Sprintf("Deleted resource group %s\n", res.ResourceGroup)
		if !res.Existed {
			msg = fmt.Sprintf("Resource group %s does not exist; nothing to do\n", res.ResourceGroup)
		}
		_, err := io.WriteString(w, msg)
		return err
	}, res, []any{ev})
}
