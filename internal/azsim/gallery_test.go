package azsim_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
)

// TestGalleryCaptureRefusesWhatAzureRefuses: generalize only a stopped VM,
// which then never starts again; a version only of a generalized,
// deallocated VM and with a Major.Minor.Patch name; a gallery or definition
// with nested resources is not deleted; a VM names a version as its image.
func TestGalleryCaptureRefusesWhatAzureRefuses(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	cf, err := armcompute.NewClientFactory(s.ep.SubscriptionID, s.cred, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	galleries, images, versions := cf.NewGalleriesClient(), cf.NewGalleryImagesClient(), cf.NewGalleryImageVersionsClient()
	nicID, _ := c.network(ctx, t, "rg1", "src")
	if err := c.createVM(ctx, "rg1", "src", vmParams(nicID, "Standard_D2s_v5")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.vm.Generalize(ctx, "rg1", "src", nil); errCode(err) != "OperationNotAllowed" {
		t.Errorf("generalize of a running VM: %v", err)
	}
	gp, err := galleries.BeginCreateOrUpdate(ctx, "rg1", "imgs", armcompute.Gallery{Location: to.Ptr("westus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	if _, err := galleries.BeginCreateOrUpdate(ctx, "rg1", "bad-name", armcompute.Gallery{Location: to.Ptr("westus")}, nil); errCode(err) != "InvalidParameter" {
		t.Errorf("gallery name with '-': %v", err)
	}
	ip, err := images.BeginCreateOrUpdate(ctx, "rg1", "imgs", "def", armcompute.GalleryImage{Location: to.Ptr("westus"),
		Properties: &armcompute.GalleryImageProperties{OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV2), Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("p"), Offer: to.Ptr("o"), SKU: to.Ptr("s")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ip.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	version := func(name string) armcompute.GalleryImageVersion {
		return armcompute.GalleryImageVersion{Location: to.Ptr("westus"), Properties: &armcompute.GalleryImageVersionProperties{
			StorageProfile: &armcompute.GalleryImageVersionStorageProfile{Source: &armcompute.GalleryArtifactVersionFullSource{
				VirtualMachineID: to.Ptr("/subscriptions/" + s.ep.SubscriptionID + "/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/src")}}}}
	}
	if _, err := versions.BeginCreateOrUpdate(ctx, "rg1", "imgs", "def", "1.0.0", version("1.0.0"), nil); errCode(err) != "OperationNotAllowed" {
		t.Errorf("capture of a running VM: %v", err)
	}
	dp, err := c.vm.BeginDeallocate(ctx, "rg1", "src", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	if _, err := versions.BeginCreateOrUpdate(ctx, "rg1", "imgs", "def", "1.0.0", version("1.0.0"), nil); errCode(err) != "InvalidParameter" {
		t.Errorf("capture of a VM not generalized into a Generalized definition: %v", err)
	}
	if _, err := c.vm.Generalize(ctx, "rg1", "src", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.vm.BeginStart(ctx, "rg1", "src", nil); errCode(err) != "OperationNotAllowed" {
		t.Errorf("start of a generalized VM: %v", err)
	}
	if _, err := versions.BeginCreateOrUpdate(ctx, "rg1", "imgs", "def", "1.0", version("1.0"), nil); errCode(err) != "InvalidParameter" {
		t.Errorf("version name 1.0: %v", err)
	}
	vp, err := versions.BeginCreateOrUpdate(ctx, "rg1", "imgs", "def", "1.0.0", version("1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vp.PollUntilDone(ctx, poll)
	if err != nil || v.Properties == nil || *v.Properties.ProvisioningState != armcompute.GalleryProvisioningStateSucceeded {
		t.Fatalf("capture: %+v %v", v, err)
	}
	if _, err := galleries.BeginDelete(ctx, "rg1", "imgs", nil); errCode(err) != "CannotDeleteResource" {
		t.Errorf("delete of a gallery with images: %v", err)
	}
	if _, err := images.BeginDelete(ctx, "rg1", "imgs", "def", nil); errCode(err) != "CannotDeleteResource" {
		t.Errorf("delete of a definition with versions: %v", err)
	}
	nic2, _ := c.network(ctx, t, "rg1", "fromimg")
	p := vmParams(nic2, "Standard_D2s_v5")
	p.Properties.StorageProfile.ImageReference = &armcompute.ImageReference{ID: v.ID}
	if err := c.createVM(ctx, "rg1", "fromimg", p); err != nil {
		t.Fatalf("vm from the version: %v", err)
	}
	// A definition id means its newest version.
	nic3, _ := c.network(ctx, t, "rg1", "fromdef")
	p = vmParams(nic3, "Standard_D2s_v5")
	p.Properties.StorageProfile.ImageReference = &armcompute.ImageReference{ID: to.Ptr("/subscriptions/" + s.ep.SubscriptionID + "/resourceGroups/rg1/providers/Microsoft.Compute/galleries/imgs/images/def")}
	if err := c.createVM(ctx, "rg1", "fromdef", p); err != nil {
		t.Fatalf("vm from the definition: %v", err)
	}
	nic4, _ := c.network(ctx, t, "rg1", "missing")
	p = vmParams(nic4, "Standard_D2s_v5")
	p.Properties.StorageProfile.ImageReference = &armcompute.ImageReference{ID: to.Ptr(*v.ID + "x")}
	if err := c.createVM(ctx, "rg1", "missing", p); errCode(err) != "NotFound" {
		t.Errorf("vm from a missing version: %v", err)
	}
}
