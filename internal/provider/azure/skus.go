package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/mngr-azure/mngr/internal/core"
)

type skusAPI interface {
	NewListPager(o *armcompute.ResourceSKUsClientListOptions) *runtime.Pager[armcompute.ResourceSKUsClientListResponse]
}

var _ skusAPI = (*armcompute.ResourceSKUsClient)(nil)

// maxSuggestedSizes bounds the sizes a capacity hint names.
const maxSuggestedSizes = 8

// availableSizes lists, in ONE paged call filtered by region, the VM sizes
// without restrictions there (excluding the size that just failed).
func (c *Client) availableSizes(ctx context.Context, region, failed string) ([]string, error) {
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
			if !restricted {
				sizes = append(sizes, *s.Name)
			}
		}
	}
	slices.Sort(sizes)
	return slices.Compact(sizes), nil
}

// capacityHint attaches to a capacity error the sizes available in the region.
func (c *Client) capacityHint(ctx context.Context, err error, region, size string) error {
	sizes, lerr := c.availableSizes(ctx, region, size)
	if lerr != nil || len(sizes) == 0 {
		return core.WithHint(err, "pick another size with -b --azure-vm-size=SIZE or another region with -b --azure-region=REGION")
	}
	if len(sizes) > maxSuggestedSizes {
		sizes = sizes[:maxSuggestedSizes]
	}
	return core.WithHint(err, "sizes available in %s: %s; retry with -b --azure-vm-size=SIZE, or another region with -b --azure-region=REGION",
		region, strings.Join(sizes, ", "))
}
