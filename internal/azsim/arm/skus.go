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
}

var vmSizes = []vmSize{
	{"Standard_B1s", "standardBSFamily", 1, 1, false, false},
	{"Standard_B2s", "standardBSFamily", 2, 4, false, false},
	{"Standard_D2s_v3", "standardDSv3Family", 2, 8, false, true},
	{"Standard_D4s_v3", "standardDSv3Family", 4, 16, false, true},
	{"Standard_D2as_v5", "standardDASv5Family", 2, 8, false, true},
	{"Standard_D2s_v5", "standardDSv5Family", 2, 8, false, true},
	{"Standard_D4s_v5", "standardDSv5Family", 4, 16, false, true},
	{"Standard_D8s_v5", "standardDSv5Family", 8, 32, false, true},
	{"Standard_D16s_v5", "standardDSv5Family", 16, 64, false, true},
	{"Standard_D32s_v5", "standardDSv5Family", 32, 128, false, true},
	{"Standard_E2s_v5", "standardESv5Family", 2, 16, false, true},
	{"Standard_NC6s_v3", "standardNCSv3Family", 6, 112, true, true},
	{"Standard_M128s", "standardMSFamily", 128, 2048, true, true},
}

// lowPriorityQuota is the usage row Spot VMs draw on instead of their
// family's and the regional total (Azure's "Total Regional Low-priority
// vCPUs"; learn.microsoft.com/azure/virtual-machines/spot-vms, "Quota").
const lowPriorityQuota = "lowPriorityCores"

// familyQuota is the regional vCPU limit per family; "cores" is the regional
// total of regular VMs and lowPriorityCores that of Spot VMs.
var familyQuota = map[string]int{
	"cores": 100, lowPriorityQuota: 10, "standardBSFamily": 20, "standardDSv3Family": 20, "standardDASv5Family": 20,
	"standardDSv5Family": 40, "standardESv5Family": 20, "standardNCSv3Family": 0, "standardMSFamily": 0,
}

var familyNames = map[string]string{
	"cores": "Total Regional vCPUs", lowPriorityQuota: "Total Regional Low-priority vCPUs",
	"standardBSFamily": "Standard BS Family vCPUs", "standardDSv3Family": "Standard DSv3 Family vCPUs",
	"standardDASv5Family": "Standard DASv5 Family vCPUs", "standardDSv5Family": "Standard DSv5 Family vCPUs",
	"standardESv5Family": "Standard ESv5 Family vCPUs", "standardNCSv3Family": "Standard NCSv3 Family vCPUs",
	"standardMSFamily": "Standard MS Family vCPUs",
}

// usageOrder is the order of the usages list.
var usageOrder = []string{"cores", lowPriorityQuota, "standardBSFamily", "standardDSv3Family", "standardDASv5Family",
	"standardDSv5Family", "standardESv5Family", "standardNCSv3Family", "standardMSFamily"}

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
		limit := familyQuota[fam]
		if used[fam]+z.vcpus > limit {
			label := fam + " Cores"
			if fam == lowPriorityQuota {
				label = "LowPriorityCores"
			}
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
		out = append(out, armcompute.Usage{CurrentValue: ptrTo(int32(used[fam])) /* #nosec G115 -- bounded by quotas */, Limit: ptrTo(int64(familyQuota[fam])), Unit: strPtr("Count"),
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
