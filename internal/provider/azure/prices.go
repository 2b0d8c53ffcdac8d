package azure

import (
	"fmt"
	"strings"
)

// pricesAsOf dates the bundled price table. The prices are approximate
// pay-as-you-go list prices for Linux VMs in US dollars per hour; they are
// only an estimate (no discounts, reservations, disks, IPs or traffic).
const pricesAsOf = "2025-06"

// spotDiscount is a typical Spot discount off the pay-as-you-go price. Real
// Spot prices move with demand, so a Spot estimate is rougher still.
const spotDiscount = 0.70

// hourlyUSD is the bundled price table: size → region → USD per hour.
var hourlyUSD = map[string]map[string]float64{
	"Standard_B1s":           {"eastus": 0.0104, "westus2": 0.0104, "westeurope": 0.0114},
	"Standard_B1ms":          {"eastus": 0.0207, "westus2": 0.0207, "westeurope": 0.0228},
	"Standard_B2s":           {"eastus": 0.0416, "westus2": 0.0416, "westeurope": 0.0456},
	"Standard_B2ms":          {"eastus": 0.0832, "westus2": 0.0832, "westeurope": 0.0912},
	"Standard_B4ms":          {"eastus": 0.166, "westus2": 0.166, "westeurope": 0.182},
	"Standard_D2s_v3":        {"eastus": 0.096, "westus2": 0.096, "westeurope": 0.111},
	"Standard_D2as_v5":       {"eastus": 0.086, "westus2": 0.086, "westeurope": 0.098},
	"Standard_D2s_v5":        {"eastus": 0.096, "westus2": 0.096, "westeurope": 0.115},
	"Standard_D4s_v5":        {"eastus": 0.192, "westus2": 0.192, "westeurope": 0.230},
	"Standard_D8s_v5":        {"eastus": 0.384, "westus2": 0.384, "westeurope": 0.460},
	"Standard_E2s_v5":        {"eastus": 0.126, "westus2": 0.126, "westeurope": 0.144},
	"Standard_E4s_v5":        {"eastus": 0.252, "westus2": 0.252, "westeurope": 0.288},
	"Standard_NC6s_v3":       {"eastus": 3.06, "westus2": 3.06, "westeurope": 3.67},
	"Standard_NV6ads_A10_v5": {"eastus": 0.454, "westus2": 0.454, "westeurope": 0.50},
}

// priceEstimate is the estimated hourly price of one VM.
type priceEstimate struct {
	size, region string
	spot         bool
	// known is false when the table has no price for size in region.
	known bool
	// payg is the pay-as-you-go price; hourly what the VM is estimated to cost.
	payg, hourly float64
}

// estimatePrice looks size and region up in the bundled table (sizes
// case-insensitively, as Azure treats them).
func estimatePrice(size, region string, spot bool) priceEstimate {
	e := priceEstimate{size: size, region: region, spot: spot}
	for name, byRegion := range hourlyUSD {
		if !strings.EqualFold(name, size) {
			continue
		}
		p, ok := byRegion[strings.ToLower(region)]
		if !ok {
			break
		}
		e.known, e.payg, e.hourly = true, p, p
		if spot {
			e.hourly = p * (1 - spotDiscount)
		}
	}
	return e
}

// String renders the estimate, always labelled as one and dated.
func (e priceEstimate) String() string {
	if !e.known {
		return fmt.Sprintf("no estimate for %s in %s (the bundled prices as of %s cover common sizes in eastus, westus2 and westeurope)", e.size, e.region, pricesAsOf)
	}
	if e.spot {
		return fmt.Sprintf("estimate ~$%.4f/hour for Spot %s in %s, assuming a typical %.0f%% Spot discount off $%.4f pay-as-you-go; Spot prices vary (prices as of %s)",
			e.hourly, e.size, e.region, spotDiscount*100, e.payg, pricesAsOf)
	}
	return fmt.Sprintf("estimate $%.4f/hour for %s in %s, pay-as-you-go Linux, compute only (prices as of %s)", e.hourly, e.size, e.region, pricesAsOf)
}
