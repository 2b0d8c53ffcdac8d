//go:build azsim

package azure

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// bakeOnARM bakes on azsim's ARM (no machines): the gallery, definition
// and version are made, the builder is deallocated, generalized, captured
// and deleted; a second bake finds the image; a create resolves "baked" to
// the version and names it as its image; delete removes it.
func bakeOnARM(t *testing.T, c *Client) {
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var builderID string
	var gotCLIs []core.AgentCLI
	build := func(ctx context.Context, name string, pa vps.ProviderArgs, opts vps.BuildImageOptions, created func(vps.Instance)) (vps.Instance, error) {
		if pa.Extra[extraBuilder] == "" {
			t.Errorf("the builder's create does not carry the builder tag: %+v", pa.Extra)
		}
		gotCLIs = opts.AgentCLIs
		inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: name, UserData: []byte("#cloud-config\n"),
			AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
		if err == nil {
			created(inst)
			builderID = inst.ID
			if page, err := c.vms.NewListPager(c.cfg.ResourceGroup, nil).NextPage(ctx); err != nil {
				t.Error(err)
			} else {
				for _, vm := range page.Value {
					if deref(vm.ID) == inst.ID && vm.Identity != nil && len(vm.Identity.UserAssignedIdentities) > 0 {
						t.Errorf("the builder VM has a managed identity: %+v", vm.Identity)
					}
				}
			}
		}
		return inst, err
	}
	res, err := c.Bake(ctx, BakeOptions{}, build)
	if err != nil {
		t.Fatal(err)
	}
	if res.Existed || res.Image.State != "Succeeded" || !res.Image.Current || res.Image.Name != bakeDefinition(DefaultBakeName, c.RecipeHash()) {
		t.Fatalf("bake: %+v", res)
	}
	if page, err := c.vms.NewListPager(c.cfg.ResourceGroup, nil).NextPage(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, v := range page.Value {
			if deref(v.ID) == builderID {
				t.Errorf("the builder %s remains after the bake", builderID)
			}
		}
	}
	again, err := c.Bake(ctx, BakeOptions{}, func(context.Context, string, vps.ProviderArgs, vps.BuildImageOptions, func(vps.Instance)) (vps.Instance, error) {
		t.Error("a bake of an unchanged recipe built again")
		return vps.Instance{}, errors.New("unexpected build")
	})
	if err != nil || !again.Existed || again.Image.ID != res.Image.ID {
		t.Fatalf("second bake: %+v %v", again, err)
	}

	pa, _, err := c.ParseBuildArgs([]string{"--azure-image=baked"})
	if err != nil {
		t.Fatal(err)
	}
	baked, notes, err := c.ResolveImage(ctx, &pa, "")
	if err != nil || !baked || pa.Extra[extraImageID] != res.Image.ID {
		t.Fatalf("resolve baked: %v %v %+v %v", baked, notes, pa.Extra, err)
	}

	// With an agent CLI: another recipe, so another definition, tagged
	// with the CLI; "baked" prefers it for that agent type only.
	for _, bad := range []BakeOptions{{AgentTypes: []string{"command"}}, {AgentTypes: []string{"claude"}, InstallEnv: []string{"ANTHROPIC_API_KEY=x"}}} {
		if _, err := c.Bake(ctx, bad, build); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("bake %+v: %v, want invalid input", bad, err)
		}
	}
	withCLI, err := c.Bake(ctx, BakeOptions{AgentTypes: []string{"claude", "claude"}, InstallEnv: []string{"npm_config_registry=http://127.0.0.1:4873/"}}, build)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotCLIs) != 1 || gotCLIs[0].Package != "@anthropic-ai/claude-code@"+core.ClaudeCodeVersion {
		t.Errorf("the builder was asked for CLIs %+v", gotCLIs)
	}
	if withCLI.Image.Name == res.Image.Name || withCLI.Image.Name != bakeDefinition(DefaultBakeName, c.RecipeHash("claude")) ||
		!withCLI.Image.Current || len(withCLI.Image.AgentCLIs) != 1 || withCLI.Image.AgentCLIs[0] != "claude@"+core.ClaudeCodeVersion {
		t.Fatalf("bake with claude: %+v (plain: %s)", withCLI.Image, res.Image.Name)
	}
	for _, tc := range []struct {
		agentType, want, note string
	}{
		{"claude", withCLI.Image.ID, "agent CLIs claude@"},
		{"codex", "", "the agent's start installs @openai/codex@"},
		{"command", "", "image: baked "},
	} {
		pa, _, _ := c.ParseBuildArgs([]string{"--azure-image=baked"})
		baked, notes, err := c.ResolveImage(ctx, &pa, tc.agentType)
		if err != nil || !baked {
			t.Fatalf("resolve baked for %s: %v %v", tc.agentType, baked, err)
		}
		if tc.want != "" && pa.Extra[extraImageID] != tc.want {
			t.Errorf("a %s agent gets image %s, want %s", tc.agentType, pa.Extra[extraImageID], tc.want)
		}
		if !strings.Contains(strings.Join(notes, "\n"), tc.note) {
			t.Errorf("a %s agent's notes %q do not say %q", tc.agentType, notes, tc.note)
		}
	}
	if _, err := c.DeleteBaked(ctx, withCLI.Image.Name); err != nil {
		t.Fatal(err)
	}
	inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: "from-baked", UserData: []byte("#cloud-config\n"),
		AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := c.vms.NewListPager(c.cfg.ResourceGroup, nil).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, v := range vm.Value {
		if deref(v.ID) == inst.ID && v.Properties.StorageProfile.ImageReference != nil {
			named = deref(v.Properties.StorageProfile.ImageReference.ID) == res.Image.ID
		}
	}
	if !named {
		t.Errorf("the VM of a create from the baked image does not name it as its image")
	}
	// Cleanup refuses while the image exists.
	if _, err := c.Cleanup(ctx); !errors.Is(err, core.ErrConflict) {
		t.Errorf("cleanup with a baked image and a VM: %v", err)
	}
	if err := c.DestroyInstance(ctx, inst.HostID); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.DeleteBaked(ctx, res.Image.Name); err != nil || !ok {
		t.Fatalf("delete baked: %v %v", ok, err)
	}
	if imgs, err := c.ListBaked(ctx); err != nil || len(imgs) != 0 {
		t.Fatalf("after delete: %+v %v", imgs, err)
	}
	if err := c.deleteGallery(ctx); err != nil {
		t.Fatal(err)
	}
}
