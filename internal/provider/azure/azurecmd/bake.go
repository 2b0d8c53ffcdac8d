package azurecmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/cli"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/provider/azure"
	"github.com/mngr-azure/mngr/internal/vps"
)

type bakeOptions struct {
	Provider string
	Name     string
	List     bool
	Delete   string
	// AgentTypes and Env: the agent CLIs to bake in, and their installer's settings.
	AgentTypes []string
	Env        []string
}

func newCmdBake(f *cli.Factory, runF func(*cobra.Command, *bakeOptions) error) *cobra.Command {
	opts := &bakeOptions{}
	cmd := &cobra.Command{
		Use:   "bake",
		Short: "Bake an image with Docker, the agent image and agent CLIs in it, so creates skip that setup",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd, opts)
			}
			return bakeRun(cmd, f, opts)
		},
		Long: `Build an image in the provider's resource group that already holds what every
create otherwise installs: the base packages, Docker and the agent image, and
with --agent-type the pinned CLIs of those agent types inside the agent image
(installed as an agent's start would install them: npm install -g, after
Debian's nodejs and npm when the image has no npm).
A temporary builder VM (tagged mngr-builder) starts from the configured base
image and runs the same cloud-init setup steps a create runs; then everything
that belongs to that one VM or is secret is removed from it (ssh host keys,
authorized keys, cloud-init and Azure agent state, machine id, shell
histories, mngr's host dirs), it is deallocated, generalized and captured as
an image version in the Compute Gallery mngr_images (made if missing, tagged
managed-by=mngr). The builder VM, its NIC, public IP and disk are deleted
afterwards, also when the bake fails or is interrupted. The builder gets no
managed identity.

The CLI install runs in a container on the builder's own network with only
the --env settings given here (proxies, npm_config_registry, CA files: the
variables an installer needs; nothing else is accepted) and none of them is
kept in the image.

The image definition is named NAME-HASH, HASH being a hash of the recipe
(mngr's setup steps, the base image, the pinned versions, the agent CLIs):
re-running bake with an unchanged recipe prints the existing image and does
nothing. Creates use a baked image with image = "baked" in the provider block
or -b --azure-image=baked (or a gallery image id); "baked" prefers a current
image that holds the new agent's CLI.`,
		Example: `  # Bake the image of the current recipe (about one stock create long)
  mngr azure bake

  # With Claude Code and Codex at mngr's pinned versions, through a registry mirror
  mngr azure bake --agent-type claude --agent-type codex --env npm_config_registry=https://npm.example.com/

  # List the baked images, then delete one
  mngr azure bake --list
  mngr azure bake --delete mngr-agent-0123456789ab`,
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Provider, "provider", "azure", "provider instance whose [providers.NAME] block to use")
	fl.StringVar(&opts.Name, "name", azure.DefaultBakeName, "prefix of the image definition's name (the recipe hash is appended)")
	fl.BoolVar(&opts.List, "list", false, "list the baked images instead of baking")
	fl.StringVar(&opts.Delete, "delete", "", "delete the baked image definition NAME (with its versions) instead of baking")
	fl.StringSliceVar(&opts.AgentTypes, "agent-type", nil, "bake the pinned CLI of this agent type into the agent image (claude, codex; repeatable or comma-separated)")
	fl.StringArrayVar(&opts.Env, "env", nil, "NAME=VALUE for the CLI installer on the builder (proxies, npm_config_*, CA files; repeatable)")
	cmd.MarkFlagsMutuallyExclusive("list", "delete")
	return cmd
}

// openProvider returns the provider instance's host layer and its ARM client.
func openProvider(cmd *cobra.Command, f *cli.Factory, name string) (*vps.Provider, *azure.Client, error) {
	backend, _, err := f.ProviderBlock(name)
	if err != nil {
		return nil, nil, err
	}
	if backend != "azure" {
		return nil, nil, core.WithHint(fmt.Errorf("provider %q has backend %q, not azure: %w", name, backend, core.ErrInvalidInput),
			"pass --provider with the name of a [providers.NAME] block whose backend is \"azure\"")
	}
	p, err := f.Provider(cmd.Context(), name)
	if err != nil {
		return nil, nil, err
	}
	vp, ok := p.(*vps.Provider)
	if !ok {
		return nil, nil, fmt.Errorf("provider %q is not a VM provider: %w", name, core.ErrNotSupported)
	}
	client, ok := vp.Client().(*azure.Client)
	if !ok {
		return nil, nil, fmt.Errorf("provider %q has no Azure client: %w", name, core.ErrNotSupported)
	}
	return vp, client, nil
}

func bakeRun(cmd *cobra.Command, f *cli.Factory, opts *bakeOptions) error {
	if (len(opts.AgentTypes) > 0 || len(opts.Env) > 0) && (opts.List || opts.Delete != "") {
		return cli.UsageErrorf("--agent-type and --env are for a bake, not with --list or --delete")
	}
	vp, client, err := openProvider(cmd, f, opts.Provider)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	switch {
	case opts.List:
		imgs, err := client.ListBaked(ctx)
		if err != nil {
			return fmt.Errorf("list baked images of provider %q: %w", opts.Provider, err)
		}
		if imgs == nil {
			imgs = []azure.BakedImage{}
		}
		evs := make([]any, 0, len(imgs))
		for _, im := range imgs {
			evs = append(evs, map[string]any{"event": "baked_image", "name": im.Name, "version": im.Version, "id": im.ID,
				"recipe": im.Recipe, "current": im.Current, "state": im.State, "agent_clis": im.AgentCLIs})
		}
		return cli.Emit(f.IO, f.Format(), func(w io.Writer) error {
			if len(imgs) == 0 {
				_, err := fmt.Fprintf(w, "No baked images (the current recipe is %s; bake one with `mngr azure bake --provider %s`)\n", client.RecipeHash(), opts.Provider)
				return err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%-30s %-8s %-10s %-8s %-30s %s\n", "NAME", "VERSION", "STATE", "RECIPE", "AGENT CLIS", "AGE")
			for _, im := range imgs {
				recipe := "current"
				if !im.Current {
					recipe = "old"
				}
				clis := strings.Join(im.AgentCLIs, ",")
				if clis == "" {
					clis = "-"
				}
				fmt.Fprintf(&b, "%-30s %-8s %-10s %-8s %-30s %s\n", im.Name, im.Version, im.State, recipe, clis, age(im.Published))
			}
			_, err := io.WriteString(w, b.String())
			return err
		}, imgs, evs)
	case opts.Delete != "":
		existed, err := client.DeleteBaked(ctx, opts.Delete)
		if err != nil {
			return fmt.Errorf("delete baked image %q of provider %q: %w", opts.Delete, opts.Provider, err)
		}
		res := map[string]any{"provider": opts.Provider, "name": opts.Delete, "existed": existed}
		return cli.Emit(f.IO, f.Format(), func(w io.Writer) error {
			msg := fmt.Sprintf("Deleted baked image %s\n", opts.Delete)
			if !existed {
				msg = fmt.Sprintf("Baked image %s does not exist; nothing to do\n", opts.Delete)
			}
			_, err := io.WriteString(w, msg)
			return err
		}, res, []any{map[string]any{"event": "baked_image_deleted", "name": opts.Delete, "existed": existed}})
	}
	res, err := client.Bake(ctx, azure.BakeOptions{Name: opts.Name, AgentTypes: opts.AgentTypes, InstallEnv: opts.Env}, vp.BuildImageVM)
	if err != nil {
		if errors.Is(err, core.ErrInvalidInput) {
			return err
		}
		return core.WithHint(fmt.Errorf("bake an image for provider %q: %w", opts.Provider, err),
			"run it again (a finished image is kept, the builder is always removed); `mngr gc --provider %s` removes a builder an interrupted bake left", opts.Provider)
	}
	ev := map[string]any{"event": "baked", "provider": res.Provider, "name": res.Image.Name, "id": res.Image.ID,
		"recipe": res.Image.Recipe, "agent_clis": res.Image.AgentCLIs, "existed": res.Existed, "seconds": res.Seconds}
	return cli.Emit(f.IO, f.Format(), func(w io.Writer) error {
		msg := fmt.Sprintf("Baked image %s/%s in %.0fs (recipe %s)\n  id: %s\nUse it with image = \"baked\" in [providers.%s] or -b --azure-image=baked\n",
			res.Image.Name, res.Image.Version, res.Seconds, res.Image.Recipe, res.Image.ID, opts.Provider)
		if res.Existed {
			msg = fmt.Sprintf("Baked image %s/%s of the current recipe exists already; nothing to do\n  id: %s\n", res.Image.Name, res.Image.Version, res.Image.ID)
		}
		_, err := io.WriteString(w, msg)
		return err
	}, res, []any{ev})
}

func age(published int64) string {
	if published == 0 {
		return "-"
	}
	return time.Since(time.Unix(published, 0)).Round(time.Second).String()
}
