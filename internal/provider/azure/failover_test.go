package azure

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

func TestParseBuildArgsFailoverLists(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name    string
		args    []string
		want    vps.ProviderArgs
		wantErr string
	}{
		{name: "sizes", args: []string{"--azure-vm-size=Standard_A,Standard_B,Standard_C"},
			want: vps.ProviderArgs{Region: "westus", Size: "Standard_A", Sizes: []string{"Standard_A", "Standard_B", "Standard_C"}}},
		{name: "regions folded to names", args: []string{"--azure-region=eastus, WestUS2"},
			want: vps.ProviderArgs{Region: "eastus", Regions: []string{"eastus", "westus2"}, Size: "Standard_B2s"}},
		{name: "one value is no list", args: []string{"--azure-vm-size=Standard_D2s_v5"},
			want: vps.ProviderArgs{Region: "westus", Size: "Standard_D2s_v5"}},
		{name: "empty entry", args: []string{"--azure-vm-size=Standard_A,,Standard_B"}, wantErr: "value 2 of the comma list is empty"},
		{name: "trailing comma", args: []string{"--azure-region=eastus,"}, wantErr: "value 2 of the comma list is empty"},
		{name: "bad size", args: []string{"--azure-vm-size=Standard_A,Standard B"}, wantErr: `"Standard B" is not a VM size name`},
		{name: "bad region", args: []string{"--azure-region=eastus,west-us"}, wantErr: `"west-us" is not an Azure region name`},
		{name: "duplicate", args: []string{"--azure-vm-size=Standard_A,standard_a"}, wantErr: "listed twice"},
		{name: "too many", args: []string{"--azure-region=a1,a2,a3,a4,a5,a6,a7,a8,a9"}, wantErr: "9 values, at most 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := ParseBuildArgs(tt.args, cfg)
			if tt.wantErr != "" {
				if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidInput containing %q", err, tt.wantErr)
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

func TestCandidatesAreRegionMajor(t *testing.T) {
	got := candidates(vps.ProviderArgs{Regions: []string{"r1", "r2"}, Sizes: []string{"A", "B"}}, DefaultConfig())
	want := []candidate{{"r1", "A"}, {"r1", "B"}, {"r2", "A"}, {"r2", "B"}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(candidate{})); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if got := candidates(vps.ProviderArgs{}, DefaultConfig()); len(got) != 1 || got[0] != (candidate{"westus", "Standard_B2s"}) {
		t.Errorf("defaults: %v", got)
	}
}

// failoverFakes makes VM creates fail per size: beginErr answers the PUT
// itself with the code, lroErr accepts the PUT and fails its operation.
type failoverFakes struct {
	*createFakes
	vmPuts    []string // "size@region nic"
	vmDeletes []string
}

func newFailoverFakes(beginErr, lroErr map[string]string) *failoverFakes {
	ff := &failoverFakes{createFakes: newCreateFakes("", "", http.StatusCreated)}
	ff.f.compute.VirtualMachinesServer.BeginCreateOrUpdate = func(_ context.Context, rg, name string, vm armcompute.VirtualMachine, _ *armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientCreateOrUpdateResponse], errResp azfake.ErrorResponder) {
		size := string(*vm.Properties.HardwareProfile.VMSize)
		ff.vmPuts = append(ff.vmPuts, size+"@"+*vm.Location+" "+resourceName(*vm.Properties.NetworkProfile.NetworkInterfaces[0].ID))
		if code := beginErr[size]; code != "" {
			errResp.SetResponseError(http.StatusConflict, code)
			return
		}
		resp.AddNonTerminalResponse(http.StatusCreated, nil)
		if code := lroErr[size]; code != "" {
			resp.SetTerminalError(http.StatusConflict, code)
			return
		}
		ff.vm = vm
		vm.ID = to.Ptr("/subscriptions/s/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name)
		vm.Name = to.Ptr(name)
		vm.Properties.ProvisioningState = to.Ptr("Succeeded")
		resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientCreateOrUpdateResponse{VirtualMachine: vm}, nil)
		return
	}
	ff.f.compute.VirtualMachinesServer.BeginDelete = func(_ context.Context, _, name string, _ *armcompute.VirtualMachinesClientBeginDeleteOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientDeleteResponse], errResp azfake.ErrorResponder) {
		ff.vmDeletes = append(ff.vmDeletes, name)
		ff.deleted = append(ff.deleted, "vm "+name)
		// The generated fake keeps a failed LRO's responder keyed by URL, so
		// the next PUT of the same VM would replay it: start a fresh transport.
		ff.f.trs["compute"] = computefake.NewServerFactoryTransport(&ff.f.compute)
		resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientDeleteResponse{}, nil)
		return
	}
	return ff
}

func failoverReq(sizes ...string) vps.CreateInstanceRequest {
	r := createReq(false)
	r.ProviderArgs.Region, r.ProviderArgs.Size, r.ProviderArgs.Sizes = "eastus", sizes[0], sizes
	return r
}

func TestCreateInstanceFailsOverInOrderAndCleansUpBetweenAttempts(t *testing.T) {
	ff := newFailoverFakes(map[string]string{"Standard_A": "SkuNotAvailable"}, map[string]string{"Standard_B": "AllocationFailed"})
	prog := &recordingProgress{}
	inst, err := newFakeClient(t, ff.f).CreateInstance(core.WithProgress(t.Context(), prog), failoverReq("Standard_A", "Standard_B", "Standard_C"))
	if err != nil {
		t.Fatal(err)
	}
	const vm = "mngr-my-agent-01234567"
	wantPuts := []string{"Standard_A@eastus " + vm + "-nic", "Standard_B@eastus " + vm + "-2-nic", "Standard_C@eastus " + vm + "-3-nic"}
	if d := cmp.Diff(wantPuts, ff.vmPuts); d != "" {
		t.Errorf("VM creates (-want +got)\n%s", d)
	}
	// A was refused outright: its NIC and IP go. B was accepted then failed:
	// its failed VM goes first, then its NIC and IP.
	wantDeleted := []string{"nic " + vm + "-nic", "ip " + vm + "-ip", "vm " + vm, "nic " + vm + "-2-nic", "ip " + vm + "-2-ip"}
	if d := cmp.Diff(wantDeleted, ff.deleted); d != "" {
		t.Errorf("deletes (-want +got)\n%s", d)
	}
	if inst.Size != "Standard_C" || *ff.vm.Properties.HardwareProfile.VMSize != "Standard_C" {
		t.Errorf("instance size %q", inst.Size)
	}
	steps := strings.Join(prog.steps, "\n")
	for _, want := range []string{"attempt 1 of 3: Standard_A in eastus", "attempt 2 of 3: Standard_B in eastus", "attempt 3 of 3: Standard_C in eastus"} {
		if !strings.Contains(steps, want) {
			t.Errorf("steps lack %q:\n%s", want, steps)
		}
	}
	if notes := strings.Join(prog.notes, "\n"); !strings.Contains(notes, "no estimate for Standard_C in eastus (the bundled prices as of "+pricesAsOf) {
		t.Errorf("notes lack the price estimate:\n%s", notes)
	}
	if len(prog.warnings) != 2 || !strings.Contains(prog.warnings[0], "Standard_A in eastus failed (no capacity); trying the next candidate") {
		t.Errorf("warnings %q", prog.warnings)
	}
}

func TestCreateInstanceAllCandidatesFail(t *testing.T) {
	ff := newFailoverFakes(map[string]string{"Standard_A": "SkuNotAvailable", "Standard_B": "QuotaExceeded"}, nil)
	_, err := newFakeClient(t, ff.f).CreateInstance(t.Context(), failoverReq("Standard_A", "Standard_B"))
	if !errors.Is(err, core.ErrQuotaExceeded) {
		t.Fatalf("err = %v, want the last attempt's ErrQuotaExceeded", err)
	}
	for _, want := range []string{"1. Standard_A in eastus failed: SkuNotAvailable", "2. Standard_B in eastus failed: QuotaExceeded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if h := core.HintOf(err); !strings.Contains(h, "-b --azure-vm-size=SIZE1,SIZE2") || !strings.Contains(h, "az vm list-usage --location eastus") {
		t.Errorf("hint %q", h)
	}
}

func TestCreateInstanceStopsOnOtherErrors(t *testing.T) {
	ff := newFailoverFakes(map[string]string{"Standard_A": "InvalidParameter"}, nil)
	_, err := newFakeClient(t, ff.f).CreateInstance(t.Context(), failoverReq("Standard_A", "Standard_B"))
	if err == nil || errors.Is(err, core.ErrCapacity) || len(ff.vmPuts) != 1 {
		t.Fatalf("err %v after %d VM creates; want the first error and no second attempt", err, len(ff.vmPuts))
	}
}

// precheckFakes serves a region's SKUs and usages: A restricted, B's family
// out of quota, C fine, D not offered.
func precheckFakes(ff *failoverFakes) {
	sku := func(name, family string, vcpus string, restricted bool) *armcompute.ResourceSKU {
		s := &armcompute.ResourceSKU{Name: to.Ptr(name), ResourceType: to.Ptr("virtualMachines"), Family: to.Ptr(family), Locations: []*string{to.Ptr("eastus")},
			Capabilities: []*armcompute.ResourceSKUCapabilities{{Name: to.Ptr("vCPUs"), Value: to.Ptr(vcpus)}}}
		if restricted {
			s.Restrictions = []*armcompute.ResourceSKURestrictions{{Type: to.Ptr(armcompute.ResourceSKURestrictionsTypeLocation), Values: []*string{to.Ptr("eastus")},
				ReasonCode: to.Ptr(armcompute.ResourceSKURestrictionsReasonCodeNotAvailableForSubscription)}}
		}
		return s
	}
	ff.f.compute.ResourceSKUsServer.NewListPager = func(*armcompute.ResourceSKUsClientListOptions) (resp azfake.PagerResponder[armcompute.ResourceSKUsClientListResponse]) {
		resp.AddPage(http.StatusOK, armcompute.ResourceSKUsClientListResponse{ResourceSKUsResult: armcompute.ResourceSKUsResult{Value: []*armcompute.ResourceSKU{
			sku("Standard_A", "famA", "2", true), sku("Standard_B", "famB", "4", false), sku("Standard_C", "famC", "2", false),
		}}}, nil)
		return
	}
	usage := func(name string, cur int32, limit int64) *armcompute.Usage {
		return &armcompute.Usage{Name: &armcompute.UsageName{Value: to.Ptr(name), LocalizedValue: to.Ptr(name + " vCPUs")}, CurrentValue: to.Ptr(cur), Limit: to.Ptr(limit)}
	}
	ff.f.compute.UsageServer.NewListPager = func(string, *armcompute.UsageClientListOptions) (resp azfake.PagerResponder[armcompute.UsageClientListResponse]) {
		resp.AddPage(http.StatusOK, armcompute.UsageClientListResponse{ListUsagesResult: armcompute.ListUsagesResult{Value: []*armcompute.Usage{
			usage("cores", 10, 100), usage("famB", 2, 4), usage("famC", 0, 10),
		}}}, nil)
		return
	}
}

func TestCapacityPrecheckSkipsSizesThatCannotSucceed(t *testing.T) {
	ff := newFailoverFakes(nil, nil)
	precheckFakes(ff)
	c := newFakeClient(t, ff.f)
	c.cfg.CapacityPrecheck = true
	prog := &recordingProgress{}
	inst, err := c.CreateInstance(core.WithProgress(t.Context(), prog), failoverReq("Standard_A", "Standard_B", "Standard_D", "Standard_C"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"Standard_C@eastus mngr-my-agent-01234567-nic"}, ff.vmPuts); d != "" {
		t.Errorf("VM creates (-want +got)\n%s", d)
	}
	if inst.Size != "Standard_C" {
		t.Errorf("size %q", inst.Size)
	}
	warn := strings.Join(prog.warnings, "\n")
	for _, want := range []string{
		"skipping Standard_A in eastus: Standard_A is restricted in eastus (NotAvailableForSubscription)",
		"skipping Standard_B in eastus: not enough vCPU quota: famB vCPUs uses 2 of 4 in eastus and Standard_B needs 4",
		"skipping Standard_D in eastus: the SKU list of eastus does not offer Standard_D",
	} {
		if !strings.Contains(warn, want) {
			t.Errorf("warnings lack %q:\n%s", want, warn)
		}
	}
}

// Without capacity_precheck a create reads the SKU list once (the image's
// generation check) and no usages, and skips nothing for capacity; with an
// image whose generation its name does not say, it reads nothing at all.
func TestCapacityPrecheckOffReadsOnlyTheSKUList(t *testing.T) {
	for _, tt := range []struct {
		imageSKU string
		skuReads int
	}{{"12-gen2", 1}, {"12", 0}} {
		t.Run(tt.imageSKU, func(t *testing.T) {
			ff := newFailoverFakes(nil, nil)
			precheckFakes(ff)
			c := newFakeClient(t, ff.f)
			c.cfg.ImageSKU = tt.imageSKU
			if _, err := c.CreateInstance(t.Context(), failoverReq("Standard_A", "Standard_C")); err != nil {
				t.Fatal(err)
			}
			skuReads := 0
			for _, call := range ff.f.calls {
				if strings.Contains(call, "/usages") {
					t.Errorf("usage read %s without capacity_precheck", call)
				}
				if strings.Contains(call, "/skus") {
					skuReads++
				}
			}
			if skuReads != tt.skuReads {
				t.Errorf("%d SKU list reads, want %d", skuReads, tt.skuReads)
			}
			if len(ff.vmPuts) != 1 || !strings.HasPrefix(ff.vmPuts[0], "Standard_A@") {
				t.Errorf("VM creates %v, want Standard_A (restricted, but not pre-checked) tried first", ff.vmPuts)
			}
		})
	}
}

// generationFakes serves an eastus SKU list as Azure's says which
// generations each size boots: Standard_D2_v3 Gen1 only.
func generationFakes(ff *failoverFakes) {
	sku := func(name, vcpus, gens, spot string) *armcompute.ResourceSKU {
		return &armcompute.ResourceSKU{Name: to.Ptr(name), ResourceType: to.Ptr("virtualMachines"), Locations: []*string{to.Ptr("eastus")},
			Capabilities: []*armcompute.ResourceSKUCapabilities{{Name: to.Ptr("vCPUs"), Value: to.Ptr(vcpus)},
				{Name: to.Ptr("HyperVGenerations"), Value: to.Ptr(gens)}, {Name: to.Ptr("LowPriorityCapable"), Value: to.Ptr(spot)}}}
	}
	ff.f.compute.ResourceSKUsServer.NewListPager = func(*armcompute.ResourceSKUsClientListOptions) (resp azfake.PagerResponder[armcompute.ResourceSKUsClientListResponse]) {
		resp.AddPage(http.StatusOK, armcompute.ResourceSKUsClientListResponse{ResourceSKUsResult: armcompute.ResourceSKUsResult{Value: []*armcompute.ResourceSKU{
			sku("Standard_D2_v3", "2", "V1", "True"), sku("Standard_A2_v2", "2", "V1", "True"), sku("Standard_B2s", "2", "V1,V2", "False"),
			sku("Standard_D2s_v3", "2", "V1,V2", "True"), sku("Standard_D4s_v5", "4", "V1,V2", "True"),
		}}}, nil)
		return
	}
}

// A Gen1-only size with the Gen2 image is refused before any write, with
// the size, the generation and sizes that boot it; in a failover list the
// create moves on to the next size without touching the refused one.
func TestGenerationCheckRefusesGen1OnlySizesBeforeAnyWrite(t *testing.T) {
	ff := newFailoverFakes(nil, nil)
	generationFakes(ff)
	c := newFakeClient(t, ff.f)
	req := failoverReq("Standard_D2_v3")
	req.ProviderArgs.Sizes = nil
	_, err := c.CreateInstance(t.Context(), req)
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("err = %v, want ErrInvalidInput", err)
	}
	for _, call := range ff.f.calls {
		if !strings.HasPrefix(call, "GET ") {
			t.Errorf("write before the refusal: %s", call)
		}
	}
	if want := "Standard_D2_v3 cannot boot the image's Hyper-V generation V2 (Gen2): its SKU in eastus lists HyperVGenerations V1"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	// Same-vCPU sizes that boot Gen2 first, by name; not the Gen1-only A2_v2.
	if want := "sizes in eastus that boot Gen2 images: Standard_B2s, Standard_D2s_v3, Standard_D4s_v5"; !strings.HasPrefix(core.HintOf(err), want) {
		t.Errorf("hint %q, want it to start with %q", core.HintOf(err), want)
	}

	ff = newFailoverFakes(nil, nil)
	generationFakes(ff)
	prog := &recordingProgress{}
	inst, err := newFakeClient(t, ff.f).CreateInstance(core.WithProgress(t.Context(), prog), failoverReq("Standard_D2_v3", "Standard_B2s"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"Standard_B2s@eastus mngr-my-agent-01234567-nic"}, ff.vmPuts); d != "" || inst.Size != "Standard_B2s" {
		t.Errorf("size %q, VM creates (-want +got)\n%s", inst.Size, d)
	}
	if len(prog.warnings) != 1 || !strings.Contains(prog.warnings[0], "skipping Standard_D2_v3 in eastus: Standard_D2_v3 cannot boot") {
		t.Errorf("warnings %q", prog.warnings)
	}

	// A dry run says the same before anything is made.
	ff = newFailoverFakes(nil, nil)
	generationFakes(ff)
	req = failoverReq("Standard_D2_v3")
	req.ProviderArgs.Sizes = nil
	plan, err := newFakeClient(t, ff.f).PlanInstance(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(plan.Notes, "\n"); !strings.Contains(notes, "the only candidate would be skipped: 1. Standard_D2_v3 in eastus (skipped: Standard_D2_v3 cannot boot") ||
		!strings.Contains(notes, "next step: sizes in eastus that boot Gen2 images: Standard_B2s") {
		t.Errorf("plan notes:\n%s", notes)
	}

	// Spot: the suggestions are sizes Azure sells as Spot.
	ff = newFailoverFakes(nil, nil)
	generationFakes(ff)
	req = failoverReq("Standard_D2_v3")
	req.ProviderArgs.Sizes, req.ProviderArgs.Spot = nil, true
	_, err = newFakeClient(t, ff.f).CreateInstance(t.Context(), req)
	if h := core.HintOf(err); !strings.HasPrefix(h, "sizes in eastus that boot Gen2 images: Standard_D2s_v3, Standard_D4s_v5;") {
		t.Errorf("spot hint %q", h)
	}
}

// When Azure itself refuses the generation (the pre-check had no SKU
// list), the error says so, is invalid input, and failover moves on.
func TestClassifyHyperVGenerationRefusal(t *testing.T) {
	err := classify(armError(400, `{"error":{"code":"BadRequest","message":"The selected VM size 'Standard_D2_v3' cannot boot Hypervisor Generation '2'. If this was a Create operation please check that the Hypervisor Generation of the Image matches the Hypervisor Generation of the selected VM Size. If this was an Update operation please select a Hypervisor Generation '2' VM Size. For more information, see https://aka.ms/azuregen2vm"}}`),
		"create vm x", "westus", "Standard_D2_v3")
	if !errors.Is(err, core.ErrInvalidInput) || !errors.Is(err, errCannotBootImage) || !failoverable(err) {
		t.Fatalf("%v: want invalid input that failover moves on from", err)
	}
	if want := "create vm x: Azure refused the request: BadRequest: size Standard_D2_v3 cannot boot the image's Hyper-V generation 2"; core.Describe(err) != want {
		t.Errorf("message %q, want %q", core.Describe(err), want)
	}
	if h := core.HintOf(err); !strings.Contains(h, "az vm list-skus --location westus --size Standard_D2_v3") {
		t.Errorf("hint %q", h)
	}
	if attemptCause(err) != "the size cannot boot the image's generation" {
		t.Errorf("cause %q", attemptCause(err))
	}
}

func TestRegionsOutsideThePreparedNetworkAreSkipped(t *testing.T) {
	ff := newFailoverFakes(map[string]string{"Standard_A": "AllocationFailed"}, nil)
	ff.f.network.VirtualNetworksServer.Get = func(_ context.Context, _, name string, _ *armnetwork.VirtualNetworksClientGetOptions) (resp azfake.Responder[armnetwork.VirtualNetworksClientGetResponse], errResp azfake.ErrorResponder) {
		resp.SetResponse(http.StatusOK, armnetwork.VirtualNetworksClientGetResponse{VirtualNetwork: armnetwork.VirtualNetwork{Name: to.Ptr(name), Location: to.Ptr("eastus")}}, nil)
		return
	}
	req := failoverReq("Standard_A")
	req.ProviderArgs.Sizes, req.ProviderArgs.Regions = nil, []string{"eastus", "westeurope"}
	_, err := newFakeClient(t, ff.f).CreateInstance(t.Context(), req)
	if !errors.Is(err, core.ErrCapacity) {
		t.Fatalf("err = %v, want the eastus attempt's ErrCapacity", err)
	}
	if len(ff.vmPuts) != 1 {
		t.Errorf("VM creates %v, want only eastus", ff.vmPuts)
	}
	if !strings.Contains(err.Error(), "2. Standard_A in westeurope skipped: the network mngr-vnet that `mngr azure prepare` made is in eastus") {
		t.Errorf("error %v", err)
	}
}

func TestPriceEstimate(t *testing.T) {
	tests := []struct {
		size, region string
		spot         bool
		want         string
	}{
		{"Standard_B2s", "eastus", false, "estimate $0.0416/hour for Standard_B2s in eastus, pay-as-you-go Linux, compute only (prices as of " + pricesAsOf + ")"},
		{"standard_d4s_v5", "WestEurope", false, "estimate $0.2300/hour"},
		{"Standard_D4s_v5", "eastus", true, "estimate ~$0.0576/hour for Spot Standard_D4s_v5 in eastus, assuming a typical 70% Spot discount off $0.1920 pay-as-you-go; Spot prices vary (prices as of " + pricesAsOf + ")"},
		{"Standard_B2s", "westus", false, "estimate $0.0496/hour for Standard_B2s in westus"},
		{"Standard_D2as_v5", "West US", true, "estimate ~$0.0303/hour for Spot Standard_D2as_v5 in West US, assuming a typical 70% Spot discount off $0.1010"},
		{"Standard_D4s_v5", "westus", false, "no estimate for Standard_D4s_v5 in westus (the bundled prices as of " + pricesAsOf},
		{"Standard_Z9", "eastus", false, "no estimate for Standard_Z9 in eastus"},
	}
	for _, tt := range tests {
		if got := estimatePrice(tt.size, tt.region, tt.spot).String(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s %s spot=%v: %q, want prefix %q", tt.size, tt.region, tt.spot, got, tt.want)
		}
	}
	for size, byRegion := range hourlyUSD {
		for _, r := range []string{"eastus", "westus2", "westeurope"} {
			if byRegion[r] <= 0 {
				t.Errorf("price table: %s has no %s price", size, r)
			}
		}
		// westus is dearer than eastus for every size Azure lists there.
		if w, ok := byRegion["westus"]; ok && w <= byRegion["eastus"] {
			t.Errorf("price table: %s westus %v not above eastus %v (a typo?)", size, w, byRegion["eastus"])
		}
	}
}

// A create with nothing configured has a price: the default size, and the
// Spot default size, in the default region.
func TestDefaultsHavePrices(t *testing.T) {
	cfg := DefaultConfig()
	for _, tt := range []struct {
		name string
		args []string
		spot bool
	}{{"regular", nil, false}, {"spot", []string{"--azure-spot"}, true}} {
		t.Run(tt.name, func(t *testing.T) {
			pa, _, err := ParseBuildArgs(tt.args, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cands := candidates(pa, cfg)
			if len(cands) != 1 {
				t.Fatalf("candidates %v", cands)
			}
			e := estimatePrice(cands[0].size, cands[0].region, tt.spot)
			if !e.known || e.hourly <= 0 {
				t.Errorf("no price for the default %s create: %s", tt.name, e)
			}
			if usd, ok := HourlyPrice(cands[0].region, cands[0].size, tt.spot); !ok || usd != e.hourly {
				t.Errorf("HourlyPrice = %v %v, want %v", usd, ok, e.hourly)
			}
		})
	}
}

func TestDiskPricePerMonth(t *testing.T) {
	tests := []struct {
		region, sku string
		sizeGB      int32
		want        DiskPrice
	}{
		{"eastus", "StandardSSD_LRS", 30, DiskPrice{Known: true, Tier: "E4", MonthlyUSD: 2.40}},
		{"East US", "standardssd_lrs", 32, DiskPrice{Known: true, Tier: "E4", MonthlyUSD: 2.40}},
		{"eastus", "StandardSSD_LRS", 33, DiskPrice{Known: true, Tier: "E6", MonthlyUSD: 4.80}},
		{"eastus", "StandardSSD_LRS", 4095, DiskPrice{Known: true, Tier: "E50", MonthlyUSD: 307.20}},
		{"westus", "StandardSSD_LRS", 30, DiskPrice{}},
		{"eastus", "Premium_LRS", 30, DiskPrice{}},
		{"eastus", "StandardSSD_LRS", 0, DiskPrice{}},
		{"eastus", "StandardSSD_LRS", 5000, DiskPrice{}},
	}
	for _, tt := range tests {
		if got := DiskPricePerMonth(tt.region, tt.sku, tt.sizeGB); got != tt.want {
			t.Errorf("DiskPricePerMonth(%q, %q, %d) = %+v, want %+v", tt.region, tt.sku, tt.sizeGB, got, tt.want)
		}
	}
	if got := DiskPricePerMonth("eastus", "StandardSSD_LRS", 30).String(); got != "~$2.40/month (E4, list price as of "+diskPricesAsOf+")" {
		t.Errorf("String() = %q", got)
	}
	if got := DiskPricePerMonth("westus", "StandardSSD_LRS", 30).String(); got != "disk price unknown" {
		t.Errorf("unknown String() = %q", got)
	}
	// Each type's tiers grow in size and price.
	for sku, tiers := range diskTiers {
		for i := 1; i < len(tiers); i++ {
			if tiers[i].sizeGB <= tiers[i-1].sizeGB || tiers[i].monthlyUSD["eastus"] <= tiers[i-1].monthlyUSD["eastus"] {
				t.Errorf("%s tiers %s and %s out of order", sku, tiers[i-1].name, tiers[i].name)
			}
		}
	}
}

func TestPlanInstanceMakesNoWrites(t *testing.T) {
	ff := newFailoverFakes(nil, nil)
	precheckFakes(ff)
	c := newFakeClient(t, ff.f)
	c.cfg.CapacityPrecheck = true
	req := failoverReq("Standard_A", "Standard_C")
	req.ProviderArgs.Spot = true
	plan, err := c.PlanInstance(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range ff.f.calls {
		if !strings.HasPrefix(call, "GET ") {
			t.Errorf("plan made a write: %s", call)
		}
	}
	var vm core.PlannedResource
	var types []string
	for _, r := range plan.Resources {
		types = append(types, r.Type)
		if r.Type == typeVM {
			vm = r
		}
	}
	if d := cmp.Diff([]string{typePublicIP, typeNIC, typeVM, typeDisk}, types); d != "" {
		t.Errorf("types (-want +got)\n%s", d)
	}
	if vm.Size != "Standard_C" || !vm.Spot || vm.Region != "eastus" || vm.Tags["mngr-host-id"] != string(testHost) {
		t.Errorf("vm %+v", vm)
	}
	notes := strings.Join(plan.Notes, "\n")
	if !strings.Contains(notes, "1. Standard_A in eastus (skipped: Standard_A is restricted") || !strings.Contains(notes, "2. Standard_C in eastus") {
		t.Errorf("notes %q", notes)
	}
	if !strings.HasPrefix(plan.Estimate, "no estimate") || plan.HourlyUSD != nil {
		t.Errorf("estimate %q %v", plan.Estimate, plan.HourlyUSD)
	}
}
