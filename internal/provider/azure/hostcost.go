package azure

import (
	"fmt"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

var _ vps.HostCoster = (*Client)(nil)

// hoursPerMonth is Azure's billing month (730 hours).
const hoursPerMonth = 730

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
	disk := DiskPricePerMonth(inst.Region, c.cfg.OSDiskType, c.cfg.OSDiskSizeGB)
	if disk.Known {
		d := disk.MonthlyUSD
		hc.DiskPerMonth = &d
	}
	if hc.ComputePerHour != nil && !inst.CreatedAt.IsZero() && inst.CreatedAt.Unix() > 0 {
		hours := max(now.Sub(inst.CreatedAt).Hours(), 0)
		so := hours * *hc.ComputePerHour
		if hc.DiskPerMonth != nil {
			so += hours * *hc.DiskPerMonth / hoursPerMonth
		}
		hc.SoFar = &so
	}
	spot := ""
	if inst.Spot {
		spot = fmt.Sprintf(", Spot at a typical %.0f%% discount", spotDiscount*100)
	}
	diskNote := ""
	if !disk.Known {
		diskNote = " (no price in the table for this region: not in the estimate)"
	}
	hc.Basis = fmt.Sprintf("list prices as of %s%s; OS disk %s %d GB%s; estimate so far counts compute for every hour since create "+
		"(an upper bound for a VM that was deallocated part of the time); public IP and traffic not included",
		pricesAsOf, spot, c.cfg.OSDiskType, c.cfg.OSDiskSizeGB, diskNote)
	return hc
}
