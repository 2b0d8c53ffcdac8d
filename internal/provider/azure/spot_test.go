package azure

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

func TestSpotCapable(t *testing.T) {
	tests := map[string]bool{
		"Standard_B2s": false, "Standard_B1ms": false, "standard_b2ats_v2": false, "Standard_B16als_v2": false,
		"Standard_D2_v2_Promo": false, "Standard_DS3_v2_Promo": false,
		"Standard_D2as_v5": true, "Standard_D2s_v5": true, "Standard_E2s_v5": true, "Standard_NC6s_v3": true,
	}
	for size, want := range tests {
		if got := spotCapable(size); got != want {
			t.Errorf("spotCapable(%q) = %v, want %v", size, got, want)
		}
	}
}

func TestParseBuildArgsSpotSizes(t *testing.T) {
	d4 := DefaultConfig()
	d4.DefaultVMSize = "Standard_D4s_v5"
	tests := []struct {
		name     string
		cfg      Config
		args     []string
		want     vps.ProviderArgs
		wantErr  string
		wantHint string
	}{
		{name: "spot without a size leaves the B-series default", cfg: DefaultConfig(), args: []string{"--azure-spot"},
			want: vps.ProviderArgs{Region: "westus", Size: "Standard_D2as_v5", Spot: true, Extra: map[string]string{extraSpotDefault: "Standard_D2as_v5"}}},
		{name: "spot without a size keeps a Spot-capable default", cfg: d4, args: []string{"--azure-spot"},
			want: vps.ProviderArgs{Region: "westus", Size: "Standard_D4s_v5", Spot: true}},
		{name: "regular VM keeps the B-series default", cfg: DefaultConfig(), args: nil,
			want: vps.ProviderArgs{Region: "westus", Size: "Standard_B2s"}},
		{name: "spot with a Spot-capable size", cfg: DefaultConfig(), args: []string{"--azure-spot", "--azure-vm-size=Standard_D2s_v5"},
			want: vps.ProviderArgs{Region: "westus", Size: "Standard_D2s_v5", Spot: true}},
		{name: "spot with a B-series size", cfg: DefaultConfig(), args: []string{"--azure-vm-size=Standard_B2s", "--azure-spot"},
			wantErr:  `build arg "--azure-vm-size=Standard_B2s" with --azure-spot: Standard_B2s cannot be Spot (Azure sells no B-series and no Promo size as Spot)`,
			wantHint: "-b --azure-vm-size=Standard_D2as_v5 or -b --azure-vm-size=Standard_D2s_v5, or drop -b --azure-spot"},
		{name: "spot with a list holding a B-series size", cfg: DefaultConfig(), args: []string{"--azure-spot", "--azure-vm-size=Standard_D2s_v5,Standard_B1ms"},
			wantErr: "Standard_B1ms cannot be Spot", wantHint: "Standard_D2as_v5"},
		{name: "spot with a Promo size", cfg: DefaultConfig(), args: []string{"--azure-spot", "--azure-vm-size=Standard_D2_v2_Promo"},
			wantErr: "Standard_D2_v2_Promo cannot be Spot", wantHint: "Standard_D2s_v5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParseBuildArgs(tt.args, tt.cfg)
			if tt.wantErr != "" {
				if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(core.HintOf(err), tt.wantHint) {
					t.Fatalf("err = %v (hint %q), want ErrInvalidInput containing %q with a hint naming %q", err, core.HintOf(err), tt.wantErr, tt.wantHint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestSpotDefaultSizeIsShownInProgressAndPlan(t *testing.T) {
	cfg := DefaultConfig()
	pa, _, err := ParseBuildArgs([]string{"--azure-spot"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := createReq(true)
	req.ProviderArgs = pa
	const want = "--azure-spot without a size: using Standard_D2as_v5, because default_vm_size Standard_B2s cannot be Spot (Azure sells no B-series and no Promo size as Spot)"

	cf := newCreateFakes("", "", http.StatusCreated)
	prog := &recordingProgress{}
	inst, err := newFakeClient(t, cf.f).CreateInstance(core.WithProgress(t.Context(), prog), req)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Size != "Standard_D2as_v5" || string(*cf.vm.Properties.HardwareProfile.VMSize) != "Standard_D2as_v5" {
		t.Errorf("created size %q (sent %q), want Standard_D2as_v5", inst.Size, *cf.vm.Properties.HardwareProfile.VMSize)
	}
	if len(prog.notes) == 0 || !strings.HasPrefix(prog.notes[0], want) {
		t.Errorf("progress notes %q, want first %q", prog.notes, want)
	}

	plan, err := newFakeClient(t, newCreateFakes("", "", http.StatusCreated).f).PlanInstance(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Notes) == 0 || !strings.HasPrefix(plan.Notes[0], want) {
		t.Errorf("plan notes %q, want first %q", plan.Notes, want)
	}

	// An explicit size gets no such note.
	pa, _, err = ParseBuildArgs([]string{"--azure-spot", "--azure-vm-size=Standard_D2as_v5"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if note := spotDefaultNote(pa, cfg); note != "" {
		t.Errorf("note for an explicit size: %q", note)
	}
}

func TestCheckCandidateReadsLowPriorityCapable(t *testing.T) {
	skus := map[string]skuInfo{
		"standard_b2s":     {family: "standardBSFamily", vcpus: 2, lowPriority: "False"},
		"standard_d2as_v5": {family: "standardDASv5Family", vcpus: 2, lowPriority: "True"},
		"standard_x2":      {family: "standardXFamily", vcpus: 2}, // the SKU does not say
	}
	quotas := map[string]quota{
		"cores": {name: "Total Regional vCPUs", current: 0, max: 100}, "standardbsfamily": {name: "Standard BS Family vCPUs", current: 0, max: 10},
		"standarddasv5family": {name: "Standard DASv5 Family vCPUs", current: 0, max: 10}, "standardxfamily": {name: "X", current: 0, max: 10},
		"lowprioritycores": {name: "Total Regional Low-priority vCPUs", current: 9, max: 10},
	}
	tests := []struct {
		size     string
		spot     bool
		wantKind error
		want     string
	}{
		{"Standard_B2s", true, core.ErrUnavailable, "Azure does not sell Standard_B2s as Spot in westus (its SKU says LowPriorityCapable=False)"},
		{"Standard_B2s", false, nil, ""},
		// Spot-capable, but the low-priority pool has 1 vCPU left: the family's 10 free do not count.
		{"Standard_D2as_v5", true, core.ErrQuotaExceeded, "not enough vCPU quota: Total Regional Low-priority vCPUs uses 9 of 10 in westus and Standard_D2as_v5 needs 2"},
		{"Standard_D2as_v5", false, nil, ""},
		{"Standard_X2", true, core.ErrQuotaExceeded, "Low-priority"},
	}
	for _, tt := range tests {
		sk, bad := checkCandidate(candidate{region: "westus", size: tt.size}, skus, quotas, tt.spot)
		if bad != (tt.wantKind != nil) || (bad && (!errors.Is(sk.kind, tt.wantKind) || !strings.Contains(sk.reason, tt.want))) {
			t.Errorf("%s spot=%v: skip=%v %+v, want kind %v reason %q", tt.size, tt.spot, bad, sk, tt.wantKind, tt.want)
		}
	}
}
