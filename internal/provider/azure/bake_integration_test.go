//go:build azsim

package azure

import (
	"context"
	"errors"
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
	build := func(ctx context.Context, name string, pa vps.ProviderArgs, created func(vps.Instance)) (vps.Instance, error) {
		if pa.Extra[extraBuilder] == "" {
			t.Errorf("the builder's create does not carry the builder tag: %+v", pa.Extra)
		}
		inst, err := c.CreateInstance(ctx, vps.CreateInstanceRequest{HostID: core.NewHostID(), HostName: name, UserData: []byte("#cloud-config\n"),
			AdminPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBxkNHiKDaFYV8wXjiqtgtnRTJLx3hc3i2wUmfRe4Hv3 test", ProviderArgs: pa})
		if err == nil {
			created(inst)
			builderID = inst.ID
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
	again, err := c.Bake(ctx, BakeOptions{}, func(context.Context, string, vps.ProviderArgs, func(vps.Instance)) (vps.Instance, error) {
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
	baked, notes, err := c.ResolveImage(ctx, &pa)
	if err != nil || !baked || pa.Extra[extraImageID] != res.Image.ID {
		t.Fatalf("resolve baked: %v %v %+v %v", baked, notes, pa.Extra, err)
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
