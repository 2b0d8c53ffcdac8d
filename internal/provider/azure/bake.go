package azure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Baked images: `mngr azure bake` runs the setup a create runs on a
// temporary builder VM, wipes what is per-host or secret, generalizes it
// and captures it as a version of an image definition in a Compute
// Gallery of the resource group. The definition's name carries a hash of
// the recipe (recipeText), so a bake of an unchanged recipe finds its image
// and does nothing, and a changed recipe bakes a new definition.
const (
	// bakeGallery is the gallery of the resource group that holds baked images.
	bakeGallery = "mngr_images"
	// bakeVersion is the one version of each definition (the name carries the recipe).
	bakeVersion = "1.0.0"
	// DefaultBakeName is the definition name's prefix without --name.
	DefaultBakeName = "mngr-agent"
	// tagBuilder marks an image builder VM (and its NIC and IP) with the
	// image definition it bakes.
	tagBuilder = "mngr-builder"
	// tagRecipe is the recipe hash of an image definition and its version.
	tagRecipe = "mngr-recipe"
	// tagAgentCLIs names the agent CLIs a baked image holds, with their
	// versions (claude@2.1.143,codex@0.153.3); absent for none.
	tagAgentCLIs = "mngr-agent-clis"
	// extraImage is ProviderArgs.Extra's --azure-image value.
	extraImage = "image"
	// extraImageID is the image id ResolveImage chose for a create.
	extraImageID = "image-id"
	// extraBuilder names the image definition a builder VM bakes.
	extraBuilder = "builder"
	// Image choices besides an id.
	imageBaked = "baked"
	imageStock = "stock"
	// recipeVersion changes when the bake's own procedure changes.
	recipeVersion = "mngr-bake-recipe-1"
)

var (
	galleryImageIDRE = core.LazyRegexp(`(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+(/versions/[0-9]+\.[0-9]+\.[0-9]+)?$`)
	bakeNameRE       = core.LazyRegexp(`^[a-z0-9]([a-z0-9-]{0,45}[a-z0-9])?$`)
	// definitionNameRE is an image definition name as Azure allows it.
	definitionNameRE = core.LazyRegexp(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9])?$`)
)

// checkImageChoice accepts "", "baked", "stock" or a gallery image or
// image version resource id.
func checkImageChoice(v string) error {
	switch {
	case v == "" || v == imageBaked || v == imageStock:
		return nil
	case galleryImageIDRE().MatchString(v):
		return nil
	}
	return fmt.Errorf("%q is neither \"baked\", \"stock\" nor a gallery image id (/subscriptions/…/providers/Microsoft.Compute/galleries/G/images/I[/versions/X.Y.Z])", v)
}

// recipeText is what a baked image holds, as text: the setup steps it ran
// (vps.BakeRecipe: base packages, the pinned Docker, the scrub), the base
// image it started from, the agent image it loaded and the agent CLIs it
// installed there (their pinned packages and the install steps).
func (c *Client) recipeText(clis []core.AgentCLI) string {
	parts := []string{recipeVersion,
		"base image: " + strings.Join([]string{c.cfg.ImagePublisher, c.cfg.ImageOffer, c.cfg.ImageSKU, c.cfg.ImageVersion}, ":"),
		"agent image: " + vps.BakedImage + " (from " + vps.VMImageTar + ", else " + vps.FallbackImage + ")",
		"docker: " + c.cfg.DockerInstall + " " + vps.DockerAptVersion,
		vps.BakeRecipe(c.cfg.DockerInstall)}
	if len(clis) > 0 {
		parts = append(parts, "agent CLIs: "+cliList(clis), vps.AgentCLIsRecipe(clis))
	}
	return strings.Join(parts, "\n")
}

// RecipeHash is the hash of recipeText that baked image names carry, for an
// image with the agent CLIs of agentTypes (none: Docker and the agent image
// only).
func (c *Client) RecipeHash(agentTypes ...string) string {
	clis, err := bakeCLIs(agentTypes)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256([]byte(c.recipeText(clis)))
	return hex.EncodeToString(sum[:])[:12]
}

// bakeCLIs are the agent CLIs of agentTypes, each once, in a fixed order.
func bakeCLIs(agentTypes []string) ([]core.AgentCLI, error) {
	seen := map[string]bool{}
	var out []core.AgentCLI
	for _, t := range agentTypes {
		t = strings.TrimSpace(t)
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		cl, ok := core.BakeableCLI(t)
		if !ok {
			return nil, core.WithHint(fmt.Errorf("agent type %q has no CLI mngr installs: %w", t, core.ErrInvalidInput),
				"--agent-type takes %s", strings.Join(core.BakeableTypes(), ", "))
		}
		out = append(out, cl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out, nil
}

// cliList is the tagAgentCLIs value of clis: claude@2.1.143,codex@0.153.3.
func cliList(clis []core.AgentCLI) string {
	var out []string
	for _, cl := range clis {
		out = append(out, cl.Type+"@"+cl.Version)
	}
	return strings.Join(out, ",")
}

// cliTypes are the agent types of a tagAgentCLIs value.
func cliTypes(tag string) []string {
	var out []string
	for _, f := range strings.Split(tag, ",") {
		if t, _, _ := strings.Cut(strings.TrimSpace(f), "@"); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// bakeDefinition is the image definition name for a bake named name.
func bakeDefinition(name, hash string) string { return name + "-" + hash }

// BakeOptions are mngr azure bake's choices.
type BakeOptions struct {
	// Name prefixes the image definition (default DefaultBakeName).
	Name string
	// AgentTypes are the agent types whose CLIs go into the image.
	AgentTypes []string
	// InstallEnv are NAME=VALUE settings the CLI installer runs with on the
	// builder (proxies, npm_config_registry); not part of the recipe.
	InstallEnv []string
}

// BakedImage is one baked image version.
type BakedImage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	ID      string `json:"id"`
	Recipe  string `json:"recipe"`
	// AgentCLIs are the agent CLIs in the image (claude@2.1.143).
	AgentCLIs []string `json:"agent_clis"`
	// Current says the image's recipe is mngr's current one.
	Current bool   `json:"current"`
	State   string `json:"state"`
	// Published is when the version was captured (unix seconds, 0 if unknown).
	Published int64 `json:"published"`
}

// BakeResult is what a bake did.
type BakeResult struct {
	Provider string     `json:"provider"`
	Image    BakedImage `json:"image"`
	// Existed says the image was there already and nothing was done.
	Existed bool `json:"existed"`
	// Seconds is how long the bake took.
	Seconds float64 `json:"seconds"`
}

// BuildFunc makes a builder VM ready to capture (vps.Provider.BuildImageVM).
type BuildFunc func(ctx context.Context, name string, pa vps.ProviderArgs, opts vps.BuildImageOptions, created func(vps.Instance)) (vps.Instance, error)

// Bake makes the baked image of the current recipe, unless it exists. The
// builder VM, its NIC, IP and disk are deleted whatever happens, also
// after an interrupt (on a fresh, bounded context, core.UndoContext).
func (c *Client) Bake(ctx context.Context, opts BakeOptions, build BuildFunc) (BakeResult, error) {
	start := c.now()
	name := opts.Name
	if name == "" {
		name = DefaultBakeName
	}
	if !bakeNameRE().MatchString(name) {
		return BakeResult{}, fmt.Errorf("bake name %q: use 1-47 lowercase letters, digits and '-', starting and ending with a letter or digit: %w", name, core.ErrInvalidInput)
	}
	clis, err := bakeCLIs(opts.AgentTypes)
	if err != nil {
		return BakeResult{}, err
	}
	if err := vps.CheckInstallEnv(opts.InstallEnv); err != nil {
		return BakeResult{}, err
	}
	hash := c.RecipeHash(opts.AgentTypes...)
	def := bakeDefinition(name, hash)
	res := BakeResult{Provider: c.providerName}
	rg := c.cfg.ResourceGroup
	prog := core.ProgressFrom(ctx)

	if v, err := c.gallery.versions.Get(ctx, rg, bakeGallery, def, bakeVersion, nil); err == nil {
		img := bakedFrom(v.GalleryImageVersion, def, c.RecipeHash)
		if img.State == string(armcompute.GalleryProvisioningStateSucceeded) {
			res.Image, res.Existed = img, true
			return res, nil
		}
		// A failed capture of an earlier run: remove it and bake again.
		if _, err := awaitLRO(ctx, c, "removing the failed image version "+def+"/"+bakeVersion, func() (*runtime.Poller[armcompute.GalleryImageVersionsClientDeleteResponse], error) {
			return c.gallery.versions.BeginDelete(ctx, rg, bakeGallery, def, bakeVersion, nil)
		}, func(err error) error {
			return classify(goneIsDone(err), "delete image version "+def, c.cfg.DefaultRegion, "")
		}); err != nil {
			return res, err
		}
	} else if !isNotFound(err) {
		return res, classify(err, "get image version "+def, c.cfg.DefaultRegion, "")
	}

	tags := map[string]*string{tagManagedBy: to.Ptr(tagManagedByMngr), tagProvider: to.Ptr(c.providerName), tagRecipe: to.Ptr(hash)}
	desc := "mngr agent host image: Docker and the agent image preinstalled (mngr azure bake)"
	if len(clis) > 0 {
		tags[tagAgentCLIs] = to.Ptr(cliList(clis))
		desc = "mngr agent host image: Docker and the agent image with " + cliList(clis) + " preinstalled (mngr azure bake)"
	}
	if err := c.ensureGallery(ctx); err != nil {
		return res, err
	}
	if _, err := awaitLRO(ctx, c, "creating image definition "+def+" (Linux, generalized, Hyper-V generation V2)",
		func() (*runtime.Poller[armcompute.GalleryImagesClientCreateOrUpdateResponse], error) {
			return c.gallery.images.BeginCreateOrUpdate(ctx, rg, bakeGallery, def, armcompute.GalleryImage{
				Location: to.Ptr(c.cfg.DefaultRegion), Tags: tags,
				Properties: &armcompute.GalleryImageProperties{
					OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
					HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV2),
					Identifier:       &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("mngr"), Offer: to.Ptr(name), SKU: to.Ptr(hash)},
					Description:      to.Ptr(desc),
				},
			}, nil)
		}, classifyAs("create image definition "+def, c.cfg.DefaultRegion, "")); err != nil {
		return res, err
	}

	// The builder: removed on every way out once its create was sent.
	// Until it is gone, its create's leftovers (NIC, IP, VM, disk) stay
	// noted, so a second interrupt names them.
	var builder string
	var builderHost core.HostID
	removeBuilder := func(name string) {
		uctx, cancel := core.UndoContext(ctx, core.UndoTimeout)
		defer cancel()
		if err := c.deleteBuilder(uctx, name); err != nil {
			prog.Warn(fmt.Sprintf("the builder VM %s may remain (%v); `mngr gc --provider %s` removes it", name, err, c.providerName))
			return
		}
		if builderHost != "" {
			core.LeftoversFrom(ctx).Forget(string(builderHost))
		}
	}
	defer func() {
		if builder != "" {
			removeBuilder(builder)
		}
	}()
	pa, _, err := ParseBuildArgs(nil, c.cfg)
	if err != nil {
		return res, err
	}
	pa.Extra = map[string]string{extraBuilder: def}
	hostName := "bake-" + hash[:8]
	inst, err := build(ctx, hostName, pa, vps.BuildImageOptions{AgentCLIs: clis, InstallEnv: opts.InstallEnv}, func(in vps.Instance) { builder, builderHost = resourceName(in.ID), in.HostID })
	if builder == "" && inst.ID != "" {
		builder = resourceName(inst.ID)
	}
	if err != nil {
		return res, fmt.Errorf("prepare the builder: %w", err)
	}
	if _, err := awaitLRO(ctx, c, "deallocating the builder "+builder, func() (*runtime.Poller[armcompute.VirtualMachinesClientDeallocateResponse], error) {
		return c.vms.BeginDeallocate(ctx, rg, builder, nil)
	}, classifyAs("deallocate vm "+builder, inst.Region, inst.Size)); err != nil {
		return res, err
	}
	done := prog.Step("generalizing the builder " + builder)
	_, err = c.vms.Generalize(ctx, rg, builder, nil)
	err = classify(err, "generalize vm "+builder, inst.Region, inst.Size)
	done(err)
	if err != nil {
		return res, err
	}
	v, err := awaitLRO(ctx, c, "capturing image version "+def+"/"+bakeVersion+" in gallery "+bakeGallery,
		func() (*runtime.Poller[armcompute.GalleryImageVersionsClientCreateOrUpdateResponse], error) {
			return c.gallery.versions.BeginCreateOrUpdate(ctx, rg, bakeGallery, def, bakeVersion, armcompute.GalleryImageVersion{
				Location: to.Ptr(c.cfg.DefaultRegion), Tags: tags,
				Properties: &armcompute.GalleryImageVersionProperties{
					StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
						Source: &armcompute.GalleryArtifactVersionFullSource{VirtualMachineID: to.Ptr(inst.ID)},
					},
				},
			}, nil)
		}, classifyAs("create image version "+def, c.cfg.DefaultRegion, ""))
	if err != nil {
		return res, err
	}
	name, builder = builder, ""
	removeBuilder(name)
	res.Image = bakedFrom(v.GalleryImageVersion, def, c.RecipeHash)
	res.Seconds = c.now().Sub(start).Seconds()
	return res, nil
}

// ensureGallery makes the gallery of baked images when it is missing.
func (c *Client) ensureGallery(ctx context.Context) error {
	rg := c.cfg.ResourceGroup
	done := core.ProgressFrom(ctx).Step("ensuring Compute Gallery " + bakeGallery)
	_, _, err := ensureLRO(ctx, c, func() (armcompute.Gallery, error) {
		r, err := c.gallery.galleries.Get(ctx, rg, bakeGallery, nil)
		return r.Gallery, err
	}, func() (*runtime.Poller[armcompute.GalleriesClientCreateOrUpdateResponse], error) {
		return c.gallery.galleries.BeginCreateOrUpdate(ctx, rg, bakeGallery, armcompute.Gallery{
			Location: to.Ptr(c.cfg.DefaultRegion),
			Tags:     map[string]*string{tagManagedBy: to.Ptr(tagManagedByMngr), tagProvider: to.Ptr(c.providerName)},
			Properties: &armcompute.GalleryProperties{
				Description: to.Ptr("images baked by mngr azure bake"),
			},
		}, nil)
	}, func(r armcompute.GalleriesClientCreateOrUpdateResponse) armcompute.Gallery { return r.Gallery })
	err = classify(err, "ensure gallery "+bakeGallery, c.cfg.DefaultRegion, "")
	done(err)
	return err
}

// deleteBuilder deletes a builder VM (its disk, NIC and IP cascade), then
// any NIC or IP of it that remains.
func (c *Client) deleteBuilder(ctx context.Context, name string) error {
	if _, err := awaitLRO(ctx, c, "deleting the builder VM "+name+" with its NIC, IP and disk", c.deleteVMBegin(ctx, name), func(err error) error {
		return classify(goneIsDone(err), "delete vm "+name, c.cfg.DefaultRegion, "")
	}); err != nil {
		return err
	}
	if err := c.deleteNIC(ctx, nicName(name)); err != nil {
		return classify(err, "delete nic "+nicName(name), c.cfg.DefaultRegion, "")
	}
	if err := c.deleteIP(ctx, ipName(name)); err != nil {
		return classify(err, "delete public ip "+ipName(name), c.cfg.DefaultRegion, "")
	}
	return nil
}

// bakedFrom describes an image version; current gives the recipe hash of
// this mngr for an image of some agent CLIs (Client.RecipeHash).
func bakedFrom(v armcompute.GalleryImageVersion, def string, current func(...string) string) BakedImage {
	img := BakedImage{Name: def, Version: deref(v.Name), ID: deref(v.ID), Recipe: tagValue(v.Tags, tagRecipe), AgentCLIs: []string{}}
	if t := tagValue(v.Tags, tagAgentCLIs); t != "" {
		img.AgentCLIs = strings.Split(t, ",")
	}
	img.Current = img.Recipe != "" && img.Recipe == current(cliTypes(tagValue(v.Tags, tagAgentCLIs))...)
	if p := v.Properties; p != nil {
		if p.ProvisioningState != nil {
			img.State = string(*p.ProvisioningState)
		}
		if p.PublishingProfile != nil && p.PublishingProfile.PublishedDate != nil {
			img.Published = p.PublishingProfile.PublishedDate.Unix()
		}
	}
	return img
}

// ListBaked lists the baked image versions of the resource group's gallery,
// newest first; no gallery is no images.
func (c *Client) ListBaked(ctx context.Context) ([]BakedImage, error) {
	rg := c.cfg.ResourceGroup
	var out []BakedImage
	ip := c.gallery.images.NewListByGalleryPager(rg, bakeGallery, nil)
	for ip.More() {
		page, err := ip.NextPage(ctx)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, classify(err, "list images of gallery "+bakeGallery, c.cfg.DefaultRegion, "")
		}
		for _, im := range page.Value {
			if im == nil || tagValue(im.Tags, tagManagedBy) != tagManagedByMngr {
				continue
			}
			vp := c.gallery.versions.NewListByGalleryImagePager(rg, bakeGallery, deref(im.Name), nil)
			for vp.More() {
				vpage, err := vp.NextPage(ctx)
				if err != nil {
					return nil, classify(err, "list versions of image "+deref(im.Name), c.cfg.DefaultRegion, "")
				}
				for _, v := range vpage.Value {
					if v != nil {
						out = append(out, bakedFrom(*v, deref(im.Name), c.RecipeHash))
					}
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Published > out[j].Published })
	return out, nil
}

// DeleteBaked deletes image definition name with its versions; a missing
// one is not an error. It reports whether anything was there.
func (c *Client) DeleteBaked(ctx context.Context, name string) (bool, error) {
	rg := c.cfg.ResourceGroup
	def, _, _ := strings.Cut(name, "/")
	if !definitionNameRE().MatchString(def) {
		return false, core.WithHint(fmt.Errorf("baked image name %q is not an image definition name: %w", name, core.ErrInvalidInput),
			"use a NAME that `mngr azure bake --list` shows")
	}
	found := false
	vp := c.gallery.versions.NewListByGalleryImagePager(rg, bakeGallery, def, nil)
	for vp.More() {
		page, err := vp.NextPage(ctx)
		if isNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, classify(err, "list versions of image "+def, c.cfg.DefaultRegion, "")
		}
		for _, v := range page.Value {
			if v == nil {
				continue
			}
			found = true
			ver := deref(v.Name)
			if _, err := awaitLRO(ctx, c, "deleting image version "+def+"/"+ver, func() (*runtime.Poller[armcompute.GalleryImageVersionsClientDeleteResponse], error) {
				return c.gallery.versions.BeginDelete(ctx, rg, bakeGallery, def, ver, nil)
			}, func(err error) error {
				return classify(goneIsDone(err), "delete image version "+def+"/"+ver, c.cfg.DefaultRegion, "")
			}); err != nil {
				return found, err
			}
		}
	}
	_, err := awaitLRO(ctx, c, "deleting image definition "+def, func() (*runtime.Poller[armcompute.GalleryImagesClientDeleteResponse], error) {
		return c.gallery.images.BeginDelete(ctx, rg, bakeGallery, def, nil)
	}, func(err error) error {
		return classify(goneIsDone(err), "delete image definition "+def, c.cfg.DefaultRegion, "")
	})
	return true, err
}

// deleteGallery deletes every baked image and the gallery (cleanup --force).
func (c *Client) deleteGallery(ctx context.Context) error {
	rg := c.cfg.ResourceGroup
	var defs []string
	ip := c.gallery.images.NewListByGalleryPager(rg, bakeGallery, nil)
	for ip.More() {
		page, err := ip.NextPage(ctx)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return classify(err, "list images of gallery "+bakeGallery, c.cfg.DefaultRegion, "")
		}
		for _, im := range page.Value {
			if im != nil {
				defs = append(defs, deref(im.Name))
			}
		}
	}
	for _, d := range defs {
		if _, err := c.DeleteBaked(ctx, d); err != nil {
			return err
		}
	}
	_, err := awaitLRO(ctx, c, "deleting Compute Gallery "+bakeGallery, func() (*runtime.Poller[armcompute.GalleriesClientDeleteResponse], error) {
		return c.gallery.galleries.BeginDelete(ctx, rg, bakeGallery, nil)
	}, func(err error) error {
		return classify(goneIsDone(err), "delete gallery "+bakeGallery, c.cfg.DefaultRegion, "")
	})
	return err
}

var (
	_ vps.ImageResolver = (*Client)(nil)
	_ vps.InstanceRoler = (*Client)(nil)
)

// InstanceRole says that an image builder VM builds an image.
func (c *Client) InstanceRole(inst vps.Instance) string {
	if b := inst.Tags[tagBuilder]; b != "" {
		return "image builder of " + b + " (mngr azure bake)"
	}
	return ""
}

// ResolveImage decides the image of a create: -b --azure-image, else the
// block's image setting. "baked" is a baked image of the current recipe
// (one that holds agentType's CLI first), or else the newest baked image
// with a warning that its recipe is old; an id is used as given (an image
// definition means its newest version). A create from a baked image (a
// definition tagged with a recipe) skips the baked setup steps.
func (c *Client) ResolveImage(ctx context.Context, pa *vps.ProviderArgs, agentType string) (bool, []string, error) {
	choice := c.cfg.Image
	if v := pa.Extra[extraImage]; v != "" {
		choice = v
	}
	switch choice {
	case "", imageStock:
		return false, []string{fmt.Sprintf("image: %s:%s:%s:%s (stock; every setup step runs)", c.cfg.ImagePublisher, c.cfg.ImageOffer, c.cfg.ImageSKU, c.cfg.ImageVersion)}, nil
	case imageBaked:
		return c.resolveBaked(ctx, pa, agentType)
	}
	id, err := arm.ParseResourceID(choice)
	if err != nil {
		return false, nil, fmt.Errorf("image %q: %w", choice, core.ErrInvalidInput)
	}
	var tags map[string]*string
	switch strings.ToLower(id.ResourceType.String()) {
	case "microsoft.compute/galleries/images/versions":
		v, err := c.gallery.versions.Get(ctx, id.ResourceGroupName, id.Parent.Parent.Name, id.Parent.Name, id.Name, nil)
		if err != nil {
			return false, nil, classify(err, "get image version "+choice, c.cfg.DefaultRegion, "")
		}
		tags = v.Tags
	default:
		im, err := c.gallery.images.Get(ctx, id.ResourceGroupName, id.Parent.Name, id.Name, nil)
		if err != nil {
			return false, nil, classify(err, "get gallery image "+choice, c.cfg.DefaultRegion, "")
		}
		tags = im.Tags
	}
	pa.Extra = withExtra(pa.Extra, extraImageID, choice)
	recipe := tagValue(tags, tagRecipe)
	if recipe == "" {
		return false, []string{"image: " + choice + " (not baked by mngr, or its recipe is unknown: every setup step runs)"}, nil
	}
	clis := tagValue(tags, tagAgentCLIs)
	notes := []string{"image: " + choice + " (baked, recipe " + recipe + bakedCLIsNote(clis) + ")"}
	if cur := c.RecipeHash(cliTypes(clis)...); recipe != cur {
		notes = append(notes, staleRecipe(choice, recipe, cur, c.providerName, clis))
	}
	if n := missingCLINote(clis, agentType, c.providerName); n != "" {
		notes = append(notes, n)
	}
	return true, notes, nil
}

// bakedCLIsNote says which agent CLIs a baked image holds.
func bakedCLIsNote(clis string) string {
	if clis == "" {
		return "; no agent CLI"
	}
	return "; agent CLIs " + clis
}

// missingCLINote says that a create's agent CLI is not in its baked image
// (so the agent's start installs it), or "".
func missingCLINote(clis, agentType, provider string) string {
	cl, ok := core.BakeableCLI(agentType)
	if !ok || slices.Contains(cliTypes(clis), agentType) {
		return ""
	}
	return fmt.Sprintf("the baked image has no %s: the agent's start installs %s (bake it in with `mngr azure bake --provider %s --agent-type %s`)",
		cl.Command, cl.Package, provider, agentType)
}

func staleRecipe(image, recipe, current, provider, clis string) string {
	again := fmt.Sprintf("mngr azure bake --provider %s", provider)
	for _, t := range cliTypes(clis) {
		again += " --agent-type " + t
	}
	return fmt.Sprintf("warning: baked image %s was made from recipe %s, but this mngr's recipe is %s (its setup steps, base image or pinned versions changed): "+
		"the create uses it; run `%s` to bake the current one", image, recipe, current, again)
}

// resolveBaked picks the baked image of image = "baked": of the images
// whose recipe is current, the newest that holds agentType's CLI, else the
// newest; with none current, the newest of any recipe (with a warning).
func (c *Client) resolveBaked(ctx context.Context, pa *vps.ProviderArgs, agentType string) (bool, []string, error) {
	imgs, err := c.ListBaked(ctx)
	if err != nil {
		return false, nil, err
	}
	rank := func(im *BakedImage) int {
		r := 0
		if im.Current {
			r += 2
		}
		if slices.Contains(cliTypes(strings.Join(im.AgentCLIs, ",")), agentType) {
			r++
		}
		return r
	}
	var pick *BakedImage
	for i := range imgs {
		im := &imgs[i]
		if im.State != string(armcompute.GalleryProvisioningStateSucceeded) {
			continue
		}
		// imgs are newest first: a later one replaces the pick only when it ranks higher.
		if pick == nil || rank(im) > rank(pick) {
			pick = im
		}
	}
	if pick == nil {
		return false, nil, core.WithHint(fmt.Errorf("image = \"baked\", but resource group %s has no baked image: %w", c.cfg.ResourceGroup, core.ErrNotFound),
			"bake one with `mngr azure bake --provider %s` (about as long as one stock create), or create from the stock image with -b --azure-image=stock", c.providerName)
	}
	pa.Extra = withExtra(pa.Extra, extraImageID, pick.ID)
	clis := strings.Join(pick.AgentCLIs, ",")
	notes := []string{fmt.Sprintf("image: baked %s/%s (recipe %s%s)", pick.Name, pick.Version, pick.Recipe, bakedCLIsNote(clis))}
	if !pick.Current {
		notes = append(notes, staleRecipe(pick.Name, pick.Recipe, c.RecipeHash(cliTypes(clis)...), c.providerName, clis))
	}
	if n := missingCLINote(clis, agentType, c.providerName); n != "" {
		notes = append(notes, n)
	}
	return true, notes, nil
}

func withExtra(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}
