package azure

import (
	"context"
	"fmt"
	"slices"
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
	// name is the size as the SKU list spells it.
	name       string
	family     string
	vcpus      int
	restricted string // the restriction's reason code, "" when unrestricted
	// lowPriority is the LowPriorityCapable capability: "False" when Azure
	// does not sell the size as Spot ("" when the SKU does not say).
	lowPriority string
	// gens is the HyperVGenerations capability: the image generations the
	// size boots ("V1", "V1,V2"; "" when the SKU does not say).
	gens string
}

// quota is one usage row: vCPUs in use and the limit.
type quota struct {
	name         string
	current, max int64
}

// precheck adds to skips the candidates that cannot succeed: always
// (when the image's generation is known, gen) sizes whose HyperVGenerations
// lack it; with capacity_precheck also sizes the region's SKU list does not
// offer or restricts, for a Spot VM sizes whose SKU is not
// LowPriorityCapable, and sizes whose vCPUs do not fit the remaining quota
// (the family's and the region's, or for a Spot VM the region's
// low-priority pool, lowPriorityCores). It makes one SKU list per region,
// and with capacity_precheck one usage list, all reads; when a list fails
// it warns and skips nothing for that region (the create then finds out
// itself).
func (c *Client) precheck(ctx context.Context, cands []candidate, spot bool, gen string, skips map[candidate]skip) {
	prog := core.ProgressFrom(ctx)
	capacity := c.cfg.CapacityPrecheck
	what := "size"
	if capacity {
		what = "capacity"
	}
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
			label := "checking VM sizes in "
			if capacity {
				label = "checking capacity in "
			}
			end := prog.Step(label + r)
			rd = &regionData{}
			rd.skus, rd.err = c.regionSKUs(ctx, r)
			if rd.err == nil && capacity {
				rd.quotas, rd.err = c.regionQuotas(ctx, r)
			}
			end(rd.err)
			if rd.err != nil {
				prog.Warn(fmt.Sprintf("%s pre-check in %s failed (%v); trying its candidates without it", what, r, rd.err))
			}
			byRegion[r] = rd
		}
		if rd.err != nil {
			continue
		}
		if sk, bad := checkGeneration(cd, rd.skus, gen, spot); bad {
			skips[cd] = sk
			continue
		}
		if !capacity {
			continue
		}
		if sk, bad := checkCandidate(cd, rd.skus, rd.quotas, spot); bad {
			skips[cd] = sk
		}
	}
}

// imageGeneration is the Hyper-V generation of the configured marketplace
// image as its SKU name says it: "V2" for the Gen2 SKUs publishers name
// …gen2 or …-g2 (Debian's 12-gen2, Ubuntu's 22_04-lts-gen2) and Arm64
// images (Gen2 only), "V1" for a …gen1 SKU, "" when the name does not say
// (Debian's "12" is Gen1 and Ubuntu's 24.04 "server" Gen2): then no size is
// refused for its generation.
func (c Config) imageGeneration() string {
	sku := strings.ToLower(c.ImageSKU)
	switch {
	case strings.Contains(sku, "gen2") || strings.HasSuffix(sku, "-g2") || strings.Contains(sku, "arm64"):
		return "V2"
	case strings.Contains(sku, "gen1"):
		return "V1"
	}
	return ""
}

// bootsGeneration reports whether a HyperVGenerations value ("V1,V2") holds gen.
func bootsGeneration(gens, gen string) bool {
	for _, g := range strings.Split(gens, ",") {
		if strings.EqualFold(strings.TrimSpace(g), gen) {
			return true
		}
	}
	return false
}

// maxGenerationSuggestions bounds the sizes a generation refusal suggests.
const maxGenerationSuggestions = 4

// checkGeneration refuses a size whose SKU's HyperVGenerations lack the
// image's generation gen: Azure would refuse the VM (400 BadRequest "cannot
// boot Hypervisor Generation") after its NIC and public IP exist. A size
// the list does not carry, or whose SKU does not say, is not refused here.
func checkGeneration(cd candidate, skus map[string]skuInfo, gen string, spot bool) (skip, bool) {
	if gen == "" {
		return skip{}, false
	}
	info, ok := skus[strings.ToLower(cd.size)]
	if !ok || info.gens == "" || bootsGeneration(info.gens, gen) {
		return skip{}, false
	}
	reason := fmt.Sprintf("%s cannot boot the image's Hyper-V generation %s (Gen%s): its SKU in %s lists HyperVGenerations %s",
		cd.size, gen, strings.TrimPrefix(gen, "V"), cd.region, info.gens)
	hint := "pick a size that boots it with -b --azure-vm-size=SIZE (or default_vm_size), or an image of generation " + info.gens + " (image_sku)"
	if sizes := sizesBooting(skus, gen, spot, info.vcpus); len(sizes) > 0 {
		hint = fmt.Sprintf("sizes in %s that boot Gen%s images: %s; %s", cd.region, strings.TrimPrefix(gen, "V"), strings.Join(sizes, ", "), hint)
	}
	return skip{kind: core.ErrInvalidInput, reason: reason, hint: hint}, true
}

// sizesBooting lists sizes of a region's SKU list that boot gen and are
// not restricted there (for Spot, only LowPriorityCapable ones): those with
// vcpus vCPUs first, then the rest, each group by name.
func sizesBooting(skus map[string]skuInfo, gen string, spot bool, vcpus int) []string {
	var same, other []string
	for _, s := range skus {
		if s.restricted != "" || !bootsGeneration(s.gens, gen) || (spot && strings.EqualFold(s.lowPriority, "False")) {
			continue
		}
		if s.vcpus == vcpus {
			same = append(same, s.name)
		} else {
			other = append(other, s.name)
		}
	}
	slices.Sort(same)
	slices.Sort(other)
	out := slices.Concat(same, other)
	if len(out) > maxGenerationSuggestions {
		out = out[:maxGenerationSuggestions]
	}
	return out
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
			info := skuInfo{name: *s.Name, family: deref(s.Family), lowPriority: lowPriorityCapable(s)}
			for _, cp := range s.Capabilities {
				switch {
				case cp == nil:
				case deref(cp.Name) == "vCPUs":
					info.vcpus, _ = strconv.Atoi(deref(cp.Value))
				case deref(cp.Name) == "HyperVGenerations":
					info.gens = deref(cp.Value)
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
