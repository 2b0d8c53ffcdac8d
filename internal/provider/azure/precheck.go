package azure

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/mngr-azure/mngr/internal/core"
)

type usageAPI interface {
	NewListPager(location string, o *armcompute.UsageClientListOptions) *runtime.Pager[armcompute.UsageClientListResponse]
}

var _ usageAPI = (*armcompute.UsageClient)(nil)

// skuInfo is what the pre-check needs of one VM SKU in one region.
type skuInfo struct {
	family     string
	vcpus      int
	restricted string // the restriction's reason code, "" when unrestricted
	// lowPriority is the LowPriorityCapable capability: "False" when Azure
	// does not sell the size as Spot ("" when the SKU does not say).
	lowPriority string
}

// quota is one usage row: vCPUs in use and the limit.
type quota struct {
	name         string
	current, max int64
}

// precheck adds to skips the candidates that cannot succeed: sizes the
// region's SKU list does not offer or restricts, for a Spot VM sizes whose
// SKU is not LowPriorityCapable, and sizes whose vCPUs do not fit the
// remaining quota (the family's and the region's, or for a Spot VM the
// region's low-priority pool, lowPriorityCores). It makes one SKU
// list and one usage list per region, all reads; when a list fails it warns
// and skips nothing for that region (the create then finds out itself).
func (c *Client) precheck(ctx context.Context, cands []candidate, spot bool, skips map[candidate]skip) {
	prog := core.ProgressFrom(ctx)
	type regionData struct {
		skus   map[string]skuInfo
		quotas map[string]quota
		err    error
	}
	byRegion := map[string]*regionData{}
	for _, cd := range cands {
		if _, done := skips[cd]; done {
			continue
		}
		r := normRegion(cd.region)
		rd, ok := byRegion[r]
		if !ok {
			end := prog.Step("checking capacity in " + r)
			rd = &regionData{}
			rd.skus, rd.err = c.regionSKUs(ctx, r)
			if rd.err == nil {
				rd.quotas, rd.err = c.regionQuotas(ctx, r)
			}
			end(rd.err)
			if rd.err != nil {
				prog.Warn(fmt.Sprintf("capacity pre-check in %s failed (%v); trying its candidates without it", r, rd.err))
			}
			byRegion[r] = rd
		}
		if rd.err != nil {
			continue
		}
		if sk, bad := checkCandidate(cd, rd.skus, rd.quotas, spot); bad {
			skips[cd] = sk
		}
	}
}

// checkCandidate decides from a region's SKUs and quotas whether cd can succeed.
func checkCandidate(cd candidate, skus map[string]skuInfo, quotas map[string]quota, spot bool) (skip, bool) {
	info, ok := skus[strings.ToLower(cd.size)]
	if !ok {
		return skip{kind: core.ErrCapacity, reason: fmt.Sprintf("the SKU list of %s does not offer %s", cd.region, cd.size)}, true
	}
	if info.restricted != "" {
		return skip{kind: core.ErrCapacity, reason: fmt.Sprintf("%s is restricted in %s (%s)", cd.size, cd.region, info.restricted)}, true
	}
	if spot && strings.EqualFold(info.lowPriority, "False") {
		return skip{kind: core.ErrUnavailable, reason: fmt.Sprintf("Azure does not sell %s as Spot in %s (its SKU says LowPriorityCapable=False)", cd.size, cd.region)}, true
	}
	if info.vcpus <= 0 {
		return skip{}, false // no vCPU count: nothing to compare with the quota
	}
	rows := []string{info.family, "cores"}
	if spot {
		rows = []string{"lowPriorityCores"}
	}
	for _, row := range rows {
		q, ok := quotas[strings.ToLower(row)]
		if !ok {
			continue
		}
		if free := q.max - q.current; free < int64(info.vcpus) {
			return skip{kind: core.ErrQuotaExceeded, reason: fmt.Sprintf("not enough vCPU quota: %s uses %d of %d in %s and %s needs %d",
				q.name, q.current, q.max, cd.region, cd.size, info.vcpus)}, true
		}
	}
	return skip{}, false
}

// regionSKUs lists the region's VM SKUs in one paged call (filtered by location).
func (c *Client) regionSKUs(ctx context.Context, region string) (map[string]skuInfo, error) {
	filter := fmt.Sprintf("location eq '%s'", region)
	p := c.skus.NewListPager(&armcompute.ResourceSKUsClientListOptions{Filter: &filter})
	out := map[string]skuInfo{}
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "list vm skus in "+region, region, "")
		}
		for _, s := range page.Value {
			if s == nil || deref(s.ResourceType) != "virtualMachines" || s.Name == nil || !offeredIn(s, region) {
				continue
			}
			info := skuInfo{family: deref(s.Family), lowPriority: lowPriorityCapable(s)}
			for _, cp := range s.Capabilities {
				if cp != nil && deref(cp.Name) == "vCPUs" {
					info.vcpus, _ = strconv.Atoi(deref(cp.Value))
				}
			}
			for _, r := range s.Restrictions {
				if r != nil && r.Type != nil && *r.Type == armcompute.ResourceSKURestrictionsTypeLocation && restrictsRegion(r, region) {
					info.restricted = "restriction"
					if r.ReasonCode != nil {
						info.restricted = string(*r.ReasonCode)
					}
				}
			}
			out[strings.ToLower(*s.Name)] = info
		}
	}
	return out, nil
}

// offeredIn reports whether a SKU lists region (a SKU without locations
// is taken as offered: the list was already filtered by location).
func offeredIn(s *armcompute.ResourceSKU, region string) bool {
	if len(s.Locations) == 0 {
		return true
	}
	for _, l := range s.Locations {
		if l != nil && normRegion(*l) == region {
			return true
		}
	}
	return false
}

// restrictsRegion reports whether a location restriction names region (or names none).
func restrictsRegion(r *armcompute.ResourceSKURestrictions, region string) bool {
	var locs []*string
	locs = append(locs, r.Values...)
	if r.RestrictionInfo != nil {
		locs = append(locs, r.RestrictionInfo.Locations...)
	}
	if len(locs) == 0 {
		return true
	}
	for _, l := range locs {
		if l != nil && normRegion(*l) == region {
			return true
		}
	}
	return false
}

// regionQuotas lists the region's compute usages in one paged call.
func (c *Client) regionQuotas(ctx context.Context, region string) (map[string]quota, error) {
	p := c.usages.NewListPager(region, nil)
	out := map[string]quota{}
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "list compute usages in "+region, region, "")
		}
		for _, u := range page.Value {
			if u == nil || u.Name == nil || u.Name.Value == nil || u.CurrentValue == nil || u.Limit == nil {
				continue
			}
			name := deref(u.Name.LocalizedValue)
			if name == "" {
				name = *u.Name.Value
			}
			out[strings.ToLower(*u.Name.Value)] = quota{name: name, current: int64(*u.CurrentValue), max: *u.Limit}
		}
	}
	return out, nil
}
