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
}

var vmSizes = []vmSize{
	{"Standard_B1s", "standardBSFamily", 1, 1, false},
	{"Standard_B2s", "standardBSFamily", 2, 4, false},
	{"Standard_D2s_v3", "standardDSv3Family", 2, 8, false},
	{"Standard_D4s_v3", "standardDSv3Family", 4, 16, false},
	{"Standard_D2s_v5", "standardDSv5Family", 2, 8, false},
	{"Standard_D4s_v5", "standardDSv5Family", 4, 16, false},
	{"Standard_D8s_v5", "standardDSv5Family", 8, 32, false},
	{"Standard_D16s_v5", "standardDSv5Family", 16, 64, false},
	{"Standard_D32s_v5", "standardDSv5Family", 32, 128, false},
	{"Standard_E2s_v5", "standardESv5Family", 2, 16, false},
	{"Standard_NC6s_v3", "standardNCSv3Family", 6, 112, true},
	{"Standard_M128s", "standardMSFamily", 128, 2048, true},
}

// familyQuota is the regional vCPU limit per family; "cores" is the regional total.
var familyQuota = map[string]int{
	"cores": 100, "standardBSFamily": 20, "standardDSv3Family": 20, "standardDSv5Family": 40,
	"standardESv5Family": 20, "standardNCSv3Family": 0, "standardMSFamily": 0,
}

var familyNames = map[string]string{
	"cores": "Total Regional vCPUs", "standardBSFamily": "Standard BS Family vCPUs", "standardDSv3Family": "Standard DSv3 Family vCPUs",
	"standardDSv5Family": "Standard DSv5 Family vCPUs", "standardESv5Family": "Standard ESv5 Family vCPUs",
	"standardNCSv3Family": "Standard NCSv3 Family vCPUs", "standardMSFamily": "Standard MS Family vCPUs",
}

func findSize(name string) (vmSize, bool) {
	for _, z := range vmSizes {
		if strings.EqualFold(z.name, name) {
			return z, true
		}
	}
	return vmSize{}, false
}

// usedCores sums the vCPUs of allocated VMs per family and in total (under s.mu).
func (s *Server) usedCores() map[string]int {
	used := map[string]int{}
	for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, vmType) {
		if e.Power == "deallocated" || e.Power == "deallocating" {
			continue
		}
		var v armcompute.VirtualMachine
		_ = json.Unmarshal(e.Model, &v)
		if z, ok := findSize(string(*v.Properties.HardwareProfile.VMSize)); ok {
			used[z.family] += z.vcpus
			used["cores"] += z.vcpus
		}
	}
	return used
}

// checkQuota answers OperationNotAllowed when adding size would exceed a quota (under s.mu).
func (s *Server) checkQuota(z vmSize) *armError {
	used := s.usedCores()
	for _, fam := range []string{z.family, "cores"} {
		limit := familyQuota[fam]
		if used[fam]+z.vcpus > limit {
			return errf(http.StatusConflict, "OperationNotAllowed",
				"Operation could not be completed as it results in exceeding approved %s Cores quota. Additional details - Deployment Model: Resource Manager, Location: %s, Current Limit: %d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit Required: %d. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView by specifying parameters listed in the ‘Details’ section for deployment to succeed.",
				fam, DefaultLocation, limit, used[fam], z.vcpus, used[fam]+z.vcpus)
		}
	}
	return nil
}

func (s *Server) usages(w http.ResponseWriter, _ *request) *armError {
	s.mu.Lock()
	defer s.mu.Unlock()
	used := s.usedCores()
	out := []armcompute.Usage{}
	for _, fam := range []string{"cores", "standardBSFamily", "standardDSv3Family", "standardDSv5Family", "standardESv5Family", "standardNCSv3Family", "standardMSFamily"} {
		out = append(out, armcompute.Usage{CurrentValue: ptrTo(int32(used[fam])) /* #nosec G115 -- bounded by quotas */, Limit: ptrTo(int64(familyQuota[fam])), Unit: strPtr("Count"),
			Name: &armcompute.UsageName{Value: strPtr(fam), LocalizedValue: strPtr(familyNames[fam])}})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
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
				{Name: strPtr("LowPriorityCapable"), Value: strPtr("True")},
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
