package azure

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/vps"
)

func TestOSDiskPricePerMonth(t *testing.T) {
	tests := []struct {
		diskType string
		gb       int32
		region   string
		want     float64
		known    bool
	}{
		{"StandardSSD_LRS", 30, "eastus", 2.40, true},
		{"StandardSSD_LRS", 32, "EastUS", 2.40, true},
		{"StandardSSD_LRS", 33, "eastus", 4.80, true},
		{"Premium_LRS", 128, "westus2", 19.71, true},
		{"Standard_LRS", 4095, "westus", 147.46, true},
		{"Premium_ZRS", 30, "eastus", 5.28 * 1.5, true},
		{"StandardSSD_LRS", 30, "westeurope", 0, false},
		{"UltraSSD_LRS", 30, "eastus", 0, false},
		{"StandardSSD_LRS", 5000, "eastus", 0, false},
	}
	for _, tt := range tests {
		got, known := osDiskPricePerMonth(tt.diskType, tt.gb, tt.region)
		if known != tt.known || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("osDiskPricePerMonth(%s, %d, %s) = %v %v, want %v %v", tt.diskType, tt.gb, tt.region, got, known, tt.want, tt.known)
		}
	}
}

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
	// No creation time: no estimate so far.
	if nc := c.InstanceCost(vps.Instance{Size: "Standard_B2s", Region: "eastus"}, now); nc.SoFar != nil {
		t.Errorf("no create time, so far = %v", *nc.SoFar)
	}
}
