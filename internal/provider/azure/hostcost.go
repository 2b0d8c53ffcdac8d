package azure

import (
	"fmt"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

var _ vps.HostCoster = (*Client)(nil)

// hoursPerMonth is Azure's billing month (730 hours).
const hoursPerMonth = 730

// diskTiersGB are the managed disk sizes Azure bills by: a disk is billed
// as the smallest tier that holds it.
var diskTiersGB = []int32{32, 64, 128, 256, 512, 1024, 2048, 4096}

// diskMonthlyUSD is the bundled managed-disk price table (pay-as-you-go, US
// dollars a month, as of pricesAsOf): disk type → price of each tier of
// diskTiersGB. The ZRS types cost half as much again as their LRS ones.
var diskMonthlyUSD = map[string][]float64{
	"Standard_LRS":    {1.54, 3.01, 5.89, 11.33, 21.76, 40.96, 77.83, 147.46},
	"StandardSSD_LRS": {2.40, 4.80, 9.60, 19.20, 38.40, 76.80, 153.60, 307.20},
	"Premium_LRS":     {5.28, 10.21, 19.71, 38.02, 73.22, 135.17, 259.05, 495.57},
}

// diskPriceRegions are the regions the disk table holds prices for.
var diskPriceRegions = []string{"eastus", "westus", "westus2"}

// osDiskPricePerMonth is the monthly price of an OS disk of diskType and
// sizeGB in region; known is false when the table has none.
func osDiskPricePerMonth(diskType string, sizeGB int32, region string) (price float64, known bool) {
	inRegion := false
	for _, r := range diskPriceRegions {
		inRegion = inRegion || strings.EqualFold(r, region)
	}
	if !inRegion {
		return 0, false
	}
	factor := 1.0
	t := diskType
	if lrs, ok := strings.CutSuffix(t, "_ZRS"); ok {
		t, factor = lrs+"_LRS", 1.5
	}
	tiers, ok := diskMonthlyUSD[t]
	if !ok {
		return 0, false
	}
	for i, gb := range diskTiersGB {
		if sizeGB <= gb {
			return tiers[i] * factor, true
		}
	}
	return 0, false
}

// InstanceCost prices inst from the bundled tables (no cloud call): its
// compute by the hour, its OS disk by the month, and an estimate since it
// was made. The estimate counts compute for every hour since the VM was
// made, as if it had never been deallocated (Azure keeps no power-state
// history that one list call returns), so it is an upper bound for a VM
// that was stopped part of the time; the disk bills all along.
func (c *Client) InstanceCost(inst vps.Instance, now time.Time) core.HostCost {
	var hc core.HostCost
	pe := estimatePrice(inst.Size, inst.Region, inst.Spot)
	if pe.known {
		h := pe.hourly
		hc.ComputePerHour = &h
	}
	if d, ok := osDiskPricePerMonth(c.cfg.OSDiskType, c.cfg.OSDiskSizeGB, inst.Region); ok {
		hc.DiskPerMonth = &d
	}
	if hc.ComputePerHour != nil && hc.DiskPerMonth != nil && !inst.CreatedAt.IsZero() && inst.CreatedAt.Unix() > 0 {
		hours := max(now.Sub(inst.CreatedAt).Hours(), 0)
		so := hours * (*hc.ComputePerHour + *hc.DiskPerMonth/hoursPerMonth)
		hc.SoFar = &so
	}
	spot := ""
	if inst.Spot {
		spot = fmt.Sprintf(", Spot at a typical %.0f%% discount", spotDiscount*100)
	}
	hc.Basis = fmt.Sprintf("list prices as of %s%s; OS disk %s %d GB; estimate so far counts compute for every hour since create "+
		"(an upper bound for a VM that was deallocated part of the time); public IP and traffic not included",
		pricesAsOf, spot, c.cfg.OSDiskType, c.cfg.OSDiskSizeGB)
	return hc
}
