package arm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
)

// vmSize is one VM size azsim offers in its region.
type vmSize struct {
	name, family string
	vcpus        int
	memGB        float64
	// restricted sizes answer SkuNotAvailable.
	restricted bool
	// spot is the SKU's LowPriorityCapable capability: whether Azure sells
	// the size as Spot. Azure's Spot limitations exclude the B-series and
	// the Promo sizes (learn.microsoft.com/azure/virtual-machines/spot-vms,
	// "Limitations"), and the Resource SKUs API reports
	// LowPriorityCapable=False for them.
	spot bool
	// gens is the SKU's HyperVGenerations capability: the image generations
	// the size boots. Av2, Dv2 and the Dv3 sizes without "s" boot Gen1
	// images only (learn.microsoft.com/azure/virtual-machines/generation-2,
	// the sizes that support Gen2; the Resource SKUs API says "V1" for them).
	gens string
}

// Values of the HyperVGenerations capability.
const (
	gen1Only = "V1"
	gen1And2 = "V1,V2"
)

var vmSizes = []vmSize{
	{"Standard_A2_v2", "standardAv2Family", 2, 4, false, true, gen1Only},
	{"Standard_B1s", "standardBSFamily", 1, 1, false, false, gen1And2},
	{"Standard_B2s", "standardBSFamily", 2, 4, false, false, gen1And2},
	{"Standard_D2_v2", "standardDv2Family", 2, 7, false, true, gen1Only},
	{"Standard_D2_v3", "standardDv3Family", 2, 8, false, true, gen1Only},
	{"Standard_D2s_v3", "standardDSv3Family", 2, 8, false, true, gen1And2},
	{"Standard_D4s_v3", "standardDSv3Family", 4, 16, false, true, gen1And2},
	{"Standard_D2as_v5", "standardDASv5Family", 2, 8, false, true, gen1And2},
	{"Standard_D2s_v5", "standardDSv5Family", 2, 8, false, true, gen1And2},
	{"Standard_D4s_v5", "standardDSv5Family", 4, 16, false, true, gen1And2},
	{"Standard_D8s_v5", "standardDSv5Family", 8, 32, false, true, gen1And2},
	{"Standard_D16s_v5", "standardDSv5Family", 16, 64, false, true, gen1And2},
	{"Standard_D32s_v5", "standardDSv5Family", 32, 128, false, true, gen1And2},
	{"Standard_E2s_v5", "standardESv5Family", 2, 16, false, true, gen1And2},
	{"Standard_NC6s_v3", "standardNCSv3Family", 6, 112, true, true, gen1And2},
	{"Standard_M128s", "standardMSFamily", 128, 2048, true, true, gen1And2},
}

// bootsGeneration reports whether size z boots an image of generation gen ("V1", "V2").
func (z vmSize) bootsGeneration(gen string) bool {
	for _, g := range strings.Split(z.gens, ",") {
		if g == gen {
			return true
		}
	}
	return false
}

// imageGeneration is the Hyper-V generation of a marketplace image azsim
// accepts, from its SKU name as the publishers spell it: "…gen2"/"…-g2"
// (Debian's 12-gen2, Ubuntu's 22_04-lts-gen2) and Arm64 images are Gen2,
// every other SKU (Debian's 12, Ubuntu's 22_04-lts) Gen1. Azure reads it
// from the image version itself; azsim has no image catalogue.
func imageGeneration(ref *armcompute.ImageReference) string {
	if ref == nil || ref.SKU == nil {
		return ""
	}
	sku := strings.ToLower(*ref.SKU)
	if strings.Contains(sku, "gen2") || strings.HasSuffix(sku, "-g2") || strings.Contains(sku, "arm64") {
		return "V2"
	}
	return "V1"
}

// lowPriorityQuota is the usage row Spot VMs draw on instead of their
// family's and the regional total (Azure's "Total Regional Low-priority
// vCPUs"; learn.microsoft.com/azure/virtual-machines/spot-vms, "Quota").
const lowPriorityQuota = "lowPriorityCores"

// familyQuota is the regional vCPU limit per family; "cores" is the regional
// total of regular VMs and lowPriorityCores that of Spot VMs.
var familyQuota = map[string]int{
	"cores": 100, lowPriorityQuota: 10, "standardAv2Family": 20, "standardBSFamily": 20, "standardDv2Family": 20,
	"standardDv3Family": 20, "standardDSv3Family": 20, "standardDASv5Family": 20,
	"standardDSv5Family": 40, "standardESv5Family": 20, "standardNCSv3Family": 0, "standardMSFamily": 0,
}

var familyNames = map[string]string{
	"cores": "Total Regional vCPUs", lowPriorityQuota: "Total Regional Low-priority vCPUs",
	"standardAv2Family": "Standard Av2 Family vCPUs", "standardDv2Family": "Standard Dv2 Family vCPUs",
	"standardDv3Family": "Standard Dv3 Family vCPUs",
	"standardBSFamily":  "Standard BS Family vCPUs", "standardDSv3Family": "Standard DSv3 Family vCPUs",
	"standardDASv5Family": "Standard DASv5 Family vCPUs", "standardDSv5Family": "Standard DSv5 Family vCPUs",
	"standardESv5Family": "Standard ESv5 Family vCPUs", "standardNCSv3Family": "Standard NCSv3 Family vCPUs",
	"standardMSFamily": "Standard MS Family vCPUs",
}

// usageOrder is the order of the usages list.
var usageOrder = []string{"cores", lowPriorityQuota, "standardAv2Family", "standardBSFamily", "standardDv2Family", "standardDv3Family",
	"standardDSv3Family", "standardDASv5Family", "standardDSv5Family", "standardESv5Family", "standardNCSv3Family", "standardMSFamily"}

// quotaLimitLocked is a usage row's limit: the one the admin API approved
// (SetQuotaLimit), else the default table (under s.mu).
func (s *Server) quotaLimitLocked(row string) int {
	if v, ok := s.st.QuotaLimits[strings.ToLower(row)]; ok {
		return v
	}
	return familyQuota[row]
}

// SetQuotaLimit sets a usage row's vCPU limit ("cores", "lowPriorityCores"
// or a family such as "standardBSFamily"), as an approved quota request
// does on Azure (admin/test hook).
func (s *Server) SetQuotaLimit(row string, limit int) error {
	if _, ok := familyQuota[row]; !ok {
		return fmt.Errorf("no usage row %q; azsim's rows are %s", row, strings.Join(usageOrder, ", "))
	}
	if limit < 0 {
		return fmt.Errorf("limit %d is negative", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.QuotaLimits == nil {
		s.st.QuotaLimits = map[string]int{}
	}
	s.st.QuotaLimits[strings.ToLower(row)] = limit
	return s.saveLocked()
}

// quotaLabel is how Azure's quota refusal names a usage row: "Total
// Regional Cores", "LowPriorityCores", or "<family> Cores".
func quotaLabel(row string) string {
	switch row {
	case "cores":
		return "Total Regional Cores"
	case lowPriorityQuota:
		return "LowPriorityCores"
	}
	return row + " Cores"
}

func findSize(name string) (vmSize, bool) {
	for _, z := range vmSizes {
		if strings.EqualFold(z.name, name) {
			return z, true
		}
	}
	return vmSize{}, false
}

// isSpot reports whether a VM model asks for Spot (or the older Low) priority.
func isSpot(v *armcompute.VirtualMachine) bool {
	if v.Properties == nil || v.Properties.Priority == nil {
		return false
	}
	p := *v.Properties.Priority
	return p == armcompute.VirtualMachinePriorityTypesSpot || p == armcompute.VirtualMachinePriorityTypesLow
}

// quotaRows are the usage rows a VM of size z draws on: a Spot VM only the
// low-priority pool, a regular VM its family and the regional total.
func quotaRows(z vmSize, spot bool) []string {
	if spot {
		return []string{lowPriorityQuota}
	}
	return []string{z.family, "cores"}
}

// usedCores sums the vCPUs of allocated VMs per usage row (under s.mu).
func (s *Server) usedCores() map[string]int {
	used := map[string]int{}
	for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, vmType) {
		if e.Power == "deallocated" || e.Power == "deallocating" {
			continue
		}
		var v armcompute.VirtualMachine
		_ = json.Unmarshal(e.Model, &v)
		if z, ok := findSize(string(*v.Properties.HardwareProfile.VMSize)); ok {
			for _, row := range quotaRows(z, isSpot(&v)) {
				used[row] += z.vcpus
			}
		}
	}
	return used
}

// checkQuota answers OperationNotAllowed when adding a VM of size z (Spot
// or not) would exceed a quota (under s.mu).
func (s *Server) checkQuota(z vmSize, spot bool) *armError {
	used := s.usedCores()
	for _, fam := range quotaRows(z, spot) {
		limit := s.quotaLimitLocked(fam)
		if used[fam]+z.vcpus > limit {
			label := quotaLabel(fam)
			return errf(http.StatusConflict, "OperationNotAllowed",
				"Operation could not be completed as it results in exceeding approved %s quota. Additional details - Deployment Model: Resource Manager, Location: %s, Current Limit: %d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying parameters listed in the ‘Details’ section for deployment to succeed.",
				label, DefaultLocation, limit, used[fam], z.vcpus, used[fam]+z.vcpus)
		}
	}
	return nil
}

func (s *Server) usages(w http.ResponseWriter, _ *request) *armError {
	s.mu.Lock()
	defer s.mu.Unlock()
	used := s.usedCores()
	out := []armcompute.Usage{}
	for _, fam := range usageOrder {
		out = append(out, armcompute.Usage{CurrentValue: ptrTo(int32(used[fam])) /* #nosec G115 -- bounded by quotas */, Limit: ptrTo(int64(s.quotaLimitLocked(fam))), Unit: strPtr("Count"),
			Name: &armcompute.UsageName{Value: strPtr(fam), LocalizedValue: strPtr(familyNames[fam])}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// capability renders a boolean SKU capability as Azure does ("True"/"False").
func capability(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func (s *Server) skus(w http.ResponseWriter, q *request) *armError {
	out := []armcompute.ResourceSKU{}
	for _, z := range vmSizes {
		sku := armcompute.ResourceSKU{
			ResourceType: strPtr("virtualMachines"), Name: strPtr(z.name), Tier: strPtr("Standard"),
			Size: strPtr(strings.TrimPrefix(z.name, "Standard_")), Family: strPtr(z.family), Locations: []*string{strPtr(DefaultLocation)},
			LocationInfo: []*armcompute.ResourceSKULocationInfo{{Location: strPtr(DefaultLocation), Zones: []*string{strPtr("1"), strPtr("2"), strPtr("3")}}},
			Capabilities: []*armcompute.ResourceSKUCapabilities{
				{Name: strPtr("vCPUs"), Value: strPtr(fmt.Sprint(z.vcpus))},
				{Name: strPtr("MemoryGB"), Value: strPtr(fmt.Sprint(z.memGB))},
				{Name: strPtr("LowPriorityCapable"), Value: strPtr(capability(z.spot))},
				{Name: strPtr("HyperVGenerations"), Value: strPtr(z.gens)},
				{Name: strPtr("PremiumIO"), Value: strPtr("True")},
			},
			Restrictions: []*armcompute.ResourceSKURestrictions{},
		}
		if z.restricted {
			sku.Restrictions = append(sku.Restrictions, &armcompute.ResourceSKURestrictions{
				Type: ptrTo(armcompute.ResourceSKURestrictionsTypeLocation), Values: []*string{strPtr(DefaultLocation)},
				ReasonCode:      ptrTo(armcompute.ResourceSKURestrictionsReasonCodeNotAvailableForSubscription),
				RestrictionInfo: &armcompute.ResourceSKURestrictionInfo{Locations: []*string{strPtr(DefaultLocation)}},
			})
		}
		out = append(out, sku)
	}
	_ = q
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}
