package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

type skusAPI interface {
	NewListPager(o *armcompute.ResourceSKUsClientListOptions) *runtime.Pager[armcompute.ResourceSKUsClientListResponse]
}

var _ skusAPI = (*armcompute.ResourceSKUsClient)(nil)

// defaultSpotSize is the size a Spot create uses when no size is given and
// default_vm_size is one Azure does not sell as Spot (the default
// Standard_B2s is not): a general-purpose 2-vCPU size Azure sells as Spot.
const defaultSpotSize = "Standard_D2as_v5"

// spotSizeExamples are the Spot-capable sizes an error about Spot names.
var spotSizeExamples = []string{"Standard_D2as_v5", "Standard_D2s_v5"}

// spotRule is Azure's documented Spot size rule, as errors quote it.
const spotRule = "Azure sells no B-series and no Promo size as Spot"

// extraSpotDefault is the ProviderArgs.Extra key that records that a Spot
// create without a size uses defaultSpotSize instead of default_vm_size.
const extraSpotDefault = "azure-spot-default-size"

var nonSpotSizeRE = core.LazyRegexp(`(?i)^standard_b\d|_promo$`)

// spotCapable applies Azure's documented Spot limitation (learn.microsoft.com
// /azure/virtual-machines/spot-vms, "Limitations": no B-series, no Promo
// sizes) to a size name. The Resource SKUs API says the same per size and
// region as the capability LowPriorityCapable, which the capacity
// pre-check reads.
func spotCapable(size string) bool {
	return !nonSpotSizeRE().MatchString(size)
}

// spotDefaultNote says which size a Spot create without a size uses, and
// why; "" when the build args did not substitute one.
func spotDefaultNote(pa vps.ProviderArgs, cfg Config) string {
	if !pa.Spot || pa.Extra[extraSpotDefault] == "" {
		return ""
	}
	return fmt.Sprintf("--azure-spot without a size: using %s, because default_vm_size %s cannot be Spot (%s); pick another with -b --azure-vm-size=SIZE",
		pa.Extra[extraSpotDefault], cfg.DefaultVMSize, spotRule)
}

// maxSuggestedSizes bounds the sizes a capacity hint names.
const maxSuggestedSizes = 8

// availableSizes lists, in ONE paged call filtered by region, the VM sizes
// without restrictions there (excluding the size that just failed); with
// spot, only those whose LowPriorityCapable capability is not False.
func (c *Client) availableSizes(ctx context.Context, region, failed string, spot bool) ([]string, error) {
	filter := fmt.Sprintf("location eq '%s'", region)
	p := c.skus.NewListPager(&armcompute.ResourceSKUsClientListOptions{Filter: &filter})
	var sizes []string
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Value {
			if s == nil || deref(s.ResourceType) != "virtualMachines" || s.Name == nil || strings.EqualFold(*s.Name, failed) {
				continue
			}
			restricted := false
			for _, r := range s.Restrictions {
				if r != nil && r.Type != nil && *r.Type == armcompute.ResourceSKURestrictionsTypeLocation {
					restricted = true
				}
			}
			if !restricted && (!spot || lowPriorityCapable(s) != "False") {
				sizes = append(sizes, *s.Name)
			}
		}
	}
	slices.Sort(sizes)
	return slices.Compact(sizes), nil
}

// lowPriorityCapable is a SKU's LowPriorityCapable capability ("True",
// "False", or "" when the SKU does not say).
func lowPriorityCapable(s *armcompute.ResourceSKU) string {
	for _, cp := range s.Capabilities {
		if cp != nil && deref(cp.Name) == "LowPriorityCapable" {
			return deref(cp.Value)
		}
	}
	return ""
}

// capacityHint attaches to a capacity error the sizes available in the
// region (for a Spot VM, the sizes Azure sells as Spot).
func (c *Client) capacityHint(ctx context.Context, err error, region, size string, spot bool) error {
	sizes, lerr := c.availableSizes(ctx, region, size, spot)
	if lerr != nil || len(sizes) == 0 {
		return core.WithHint(err, "pick another size with -b --azure-vm-size=SIZE or another region with -b --azure-region=REGION")
	}
	if len(sizes) > maxSuggestedSizes {
		sizes = sizes[:maxSuggestedSizes]
	}
	return core.WithHint(err, "sizes available in %s: %s; retry with -b --azure-vm-size=SIZE, or another region with -b --azure-region=REGION",
		region, strings.Join(sizes, ", "))
}
