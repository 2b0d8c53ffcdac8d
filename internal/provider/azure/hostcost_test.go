package azure

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/vps"
)

func TestInstanceCost(t *testing.T) {
	c := &Client{cfg: DefaultConfig()}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	made := now.Add(-10 * time.Hour)
	hc := c.InstanceCost(vps.Instance{Size: "Standard_B2s", Region: "eastus", CreatedAt: made}, now)
	if hc.ComputePerHour == nil || *hc.ComputePerHour != 0.0416 || hc.DiskPerMonth == nil || *hc.DiskPerMonth != 2.40 {
		t.Fatalf("B2s in eastus = %+v", hc)
	}
	if want := 10 * (0.0416 + 2.40/730); hc.SoFar == nil || math.Abs(*hc.SoFar-want) > 1e-9 {
		t.Errorf("so far = %v, want %v", hc.SoFar, want)
	}
	if !strings.Contains(hc.Basis, "upper bound") || !strings.Contains(hc.Basis, pricesAsOf) {
		t.Errorf("basis = %q", hc.Basis)
	}
	spot := c.InstanceCost(vps.Instance{Size: "Standard_B2s", Region: "eastus", CreatedAt: made, Spot: true}, now)
	if spot.ComputePerHour == nil || math.Abs(*spot.ComputePerHour-0.0416*(1-spotDiscount)) > 1e-9 || !strings.Contains(spot.Basis, "Spot") {
		t.Errorf("spot = %+v", spot)
	}
	// Unknown prices are nil, never a guess; so is the estimate.
	unk := c.InstanceCost(vps.Instance{Size: "Standard_Z99", Region: "eastus", CreatedAt: made}, now)
	if unk.ComputePerHour != nil || unk.SoFar != nil || unk.DiskPerMonth == nil {
		t.Errorf("unknown size = %+v", unk)
	}
	far := c.InstanceCost(vps.Instance{Size: "Standard_B2s", Region: "brazilsouth", CreatedAt: made}, now)
	if far.ComputePerHour != nil || far.DiskPerMonth != nil || far.SoFar != nil {
		t.Errorf("unknown region = %+v", far)
	}
	// A known compute price with no disk price in the region: the estimate
	// counts compute only and says so.
	west := c.InstanceCost(vps.Instance{Size: "Standard_B2s", Region: "westus", CreatedAt: made}, now)
	if west.DiskPerMonth != nil || west.SoFar == nil || math.Abs(*west.SoFar-10*0.0496) > 1e-9 || !strings.Contains(west.Basis, "not in the estimate") {
		t.Errorf("westus = %+v", west)
	}
	// No creation time: no estimate so far.
	if nc := c.InstanceCost(vps.Instance{Size: "Standard_B2s", Region: "eastus"}, now); nc.SoFar != nil {
		t.Errorf("no create time, so far = %v", *nc.SoFar)
	}
}
