package azure

import (
	"fmt"
	"strings"
)

// pricesAsOf dates the bundled price table. The prices are pay-as-you-go
// list prices (Azure Retail Prices API, priceType Consumption, Linux) in US
// dollars per hour; they are only an estimate (no discounts, reservations,
// disks, IPs or traffic).
//
// Sources. The eastus, westus2 and westeurope figures are the table's
// original 2025-06 list prices. The westus figures (the default region) were
// read, without network access to Azure, from the Retail Prices API as
// SkyPilot's public catalog records it (github.com/skypilot-org/
// skypilot-catalog, catalogs/v6/azure/vms.csv, commit 098741e); that file's
// eastus figures for the same sizes equal this table's 2025-06 ones, so the
// table keeps that date. Not re-checked against the live API: run
// `curl "https://prices.azure.com/api/retail/prices?\$filter=armRegionName eq 'westus' and armSkuName eq 'Standard_B2s' and priceType eq 'Consumption'"`
// to compare.
const pricesAsOf = "2025-06"

// spotDiscount is a typical Spot discount off the pay-as-you-go price. Real
// Spot prices move with demand, so a Spot estimate is rougher still.
const spotDiscount = 0.70

// hourlyUSD is the bundled price table: size → region → USD per hour. It
// covers the defaults (default_vm_size Standard_B2s and the Spot default
// Standard_D2as_v5 in default_region westus) and common sizes elsewhere.
var hourlyUSD = map[string]map[string]float64{
	"Standard_B1s":           {"eastus": 0.0104, "westus": 0.0124, "westus2": 0.0104, "westeurope": 0.0114},
	"Standard_B1ms":          {"eastus": 0.0207, "westus": 0.0248, "westus2": 0.0207, "westeurope": 0.0228},
	"Standard_B2s":           {"eastus": 0.0416, "westus": 0.0496, "westus2": 0.0416, "westeurope": 0.0456},
	"Standard_B2ms":          {"eastus": 0.0832, "westus": 0.0992, "westus2": 0.0832, "westeurope": 0.0912},
	"Standard_B4ms":          {"eastus": 0.166, "westus": 0.198, "westus2": 0.166, "westeurope": 0.182},
	"Standard_D2s_v3":        {"eastus": 0.096, "westus": 0.117, "westus2": 0.096, "westeurope": 0.111},
	"Standard_D2as_v5":       {"eastus": 0.086, "westus": 0.101, "westus2": 0.086, "westeurope": 0.098},
	"Standard_D2s_v5":        {"eastus": 0.096, "westus": 0.112, "westus2": 0.096, "westeurope": 0.115},
	"Standard_D4s_v5":        {"eastus": 0.192, "westus2": 0.192, "westeurope": 0.230},
	"Standard_D8s_v5":        {"eastus": 0.384, "westus2": 0.384, "westeurope": 0.460},
	"Standard_E2s_v5":        {"eastus": 0.126, "westus2": 0.126, "westeurope": 0.144},
	"Standard_E4s_v5":        {"eastus": 0.252, "westus2": 0.252, "westeurope": 0.288},
	"Standard_NC6s_v3":       {"eastus": 3.06, "westus2": 3.06, "westeurope": 3.67},
	"Standard_NV6ads_A10_v5": {"eastus": 0.454, "westus2": 0.454, "westeurope": 0.50},
}

// diskPricesAsOf dates the managed-disk price table.
const diskPricesAsOf = "2025-06"

// diskTier is one provisioned size of a managed disk type: Azure bills a
// disk as the smallest tier that holds it (a 30 GB Standard SSD is an E4,
// 32 GiB).
type diskTier struct {
	name   string
	sizeGB int32
	// monthlyUSD is the tier's price per month by region.
	monthlyUSD map[string]float64
}

// diskTiers is the bundled managed-disk price table (LRS, pay-as-you-go
// list prices, USD per month, capacity only: Standard SSD also bills disk
// operations, $0.002 per 10,000 in eastus, which this leaves out). It covers
// the type mngr's OS disk uses by default (os_disk_type StandardSSD_LRS) in
// eastus only: the E-tier prices of Azure's managed disks pricing page as
// Microsoft's own microsoft/ga4gh-tes test data records them (hourly meters
// ×730.5 h: E4 0.00328549/h = $2.40, E50 0.420543/h = $307.20), the E30
// $76.80 a 2026 disk pricing guide quotes agreeing. No westus or other
// region's disk price could be checked here: those are unknown, and said so.
var diskTiers = map[string][]diskTier{
	"StandardSSD_LRS": {
		{"E4", 32, map[string]float64{"eastus": 2.40}},
		{"E6", 64, map[string]float64{"eastus": 4.80}},
		{"E10", 128, map[string]float64{"eastus": 9.60}},
		{"E15", 256, map[string]float64{"eastus": 19.20}},
		{"E20", 512, map[string]float64{"eastus": 38.40}},
		{"E30", 1024, map[string]float64{"eastus": 76.80}},
		{"E40", 2048, map[string]float64{"eastus": 153.60}},
		{"E50", 4096, map[string]float64{"eastus": 307.20}},
	},
}

// DiskPrice is the estimated monthly price of one managed disk.
type DiskPrice struct {
	// Known is false when the table has no price for the disk type, size
	// or region; the other fields are then zero (Tier too).
	Known bool
	// Tier is the billed tier (E4 for a 30 GB Standard SSD).
	Tier string
	// MonthlyUSD is the tier's list price per month; it stays the same
	// while the VM is deallocated (a disk bills until it is deleted).
	MonthlyUSD float64
}

// String renders the price, labelled as an estimate and dated, or says
// that it is unknown.
func (d DiskPrice) String() string {
	if !d.Known {
		return "disk price unknown"
	}
	return fmt.Sprintf("~$%.2f/month (%s, list price as of %s)", d.MonthlyUSD, d.Tier, diskPricesAsOf)
}

// DiskPricePerMonth estimates what a managed disk of type sku (a storage
// account type like StandardSSD_LRS, case-insensitive) and sizeGB costs a
// month in region, from the bundled table; Known is false when the table
// does not cover it.
func DiskPricePerMonth(region, sku string, sizeGB int32) DiskPrice {
	for name, tiers := range diskTiers {
		if !strings.EqualFold(name, sku) {
			continue
		}
		for _, t := range tiers {
			if sizeGB <= 0 || sizeGB > t.sizeGB {
				continue
			}
			p, ok := t.monthlyUSD[normRegion(region)]
			if !ok {
				return DiskPrice{}
			}
			return DiskPrice{Known: true, Tier: t.name, MonthlyUSD: p}
		}
	}
	return DiskPrice{}
}

// HourlyPrice is the bundled pay-as-you-go price of size in region, in USD
// per hour (ok false when the table has no price for it); for Spot, the
// estimate after spotDiscount.
func HourlyPrice(region, size string, spot bool) (usd float64, ok bool) {
	e := estimatePrice(size, region, spot)
	return e.hourly, e.known
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
		p, ok := byRegion[normRegion(region)]
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
		return fmt.Sprintf("no estimate for %s in %s (the bundled prices as of %s cover the default sizes in westus and common sizes in eastus, westus2 and westeurope)", e.size, e.region, pricesAsOf)
	}
	if e.spot {
		return fmt.Sprintf("estimate ~$%.4f/hour for Spot %s in %s, assuming a typical %.0f%% Spot discount off $%.4f pay-as-you-go; Spot prices vary (prices as of %s)",
			e.hourly, e.size, e.region, spotDiscount*100, e.payg, pricesAsOf)
	}
	return fmt.Sprintf("estimate $%.4f/hour for %s in %s, pay-as-you-go Linux, compute only (prices as of %s)", e.hourly, e.size, e.region, pricesAsOf)
}
