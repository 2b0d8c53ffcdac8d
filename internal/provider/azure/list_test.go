package azure

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// listFakes serves n VMs of this provider (every third deallocated... per
// deallocated) plus one VM of another provider, in pages of 10.
func listFakes(n, deallocated int) *fakeARM {
	f := &fakeARM{}
	var vms, statuses []*armcompute.VirtualMachine
	var ips []*armnetwork.PublicIPAddress
	for i := range n {
		hid := fmt.Sprintf("host-%032x", i+1)
		id := fmt.Sprintf("/subscriptions/s/resourceGroups/mngr/providers/Microsoft.Compute/virtualMachines/vm%d", i)
		vms = append(vms, &armcompute.VirtualMachine{ID: to.Ptr(id), Name: to.Ptr(fmt.Sprintf("vm%d", i)), Location: to.Ptr("westus"),
			Tags:       map[string]*string{tagProvider: to.Ptr("azure"), tagHostID: to.Ptr(hid), tagHostName: to.Ptr(fmt.Sprintf("h%02d", i)), tagCreatedAt: to.Ptr("1700000000")},
			Properties: &armcompute.VirtualMachineProperties{ProvisioningState: to.Ptr("Succeeded")}})
		code := "PowerState/running"
		if i < deallocated {
			code = "PowerState/deallocated"
		}
		statuses = append(statuses, &armcompute.VirtualMachine{ID: to.Ptr(id), Properties: &armcompute.VirtualMachineProperties{
			InstanceView: &armcompute.VirtualMachineInstanceView{Statuses: []*armcompute.InstanceViewStatus{{Code: to.Ptr("ProvisioningState/succeeded")}, {Code: to.Ptr(code)}}}}})
		ips = append(ips, &armnetwork.PublicIPAddress{Name: to.Ptr(fmt.Sprintf("vm%d-ip", i)), Tags: map[string]*string{tagHostID: to.Ptr(hid)},
			Properties: &armnetwork.PublicIPAddressPropertiesFormat{IPAddress: to.Ptr(fmt.Sprintf("203.0.113.%d", i+1))}})
	}
	vms = append(vms, &armcompute.VirtualMachine{ID: to.Ptr("/x/other"), Tags: map[string]*string{tagProvider: to.Ptr("azure-east"), tagHostID: to.Ptr("host-ffffffffffffffffffffffffffffffff")}})
	f.compute.VirtualMachinesServer.NewListPager = func(string, *armcompute.VirtualMachinesClientListOptions) (resp azfake.PagerResponder[armcompute.VirtualMachinesClientListResponse]) {
		for i := 0; i < len(vms); i += 10 {
			resp.AddPage(http.StatusOK, armcompute.VirtualMachinesClientListResponse{VirtualMachineListResult: armcompute.VirtualMachineListResult{Value: vms[i:min(i+10, len(vms))]}}, nil)
		}
		return
	}
	f.compute.VirtualMachinesServer.NewListAllPager = func(o *armcompute.VirtualMachinesClientListAllOptions) (resp azfake.PagerResponder[armcompute.VirtualMachinesClientListAllResponse]) {
		if o == nil || o.StatusOnly == nil || *o.StatusOnly != "true" {
			resp.AddResponseError(http.StatusBadRequest, "InvalidParameter")
			return
		}
		resp.AddPage(http.StatusOK, armcompute.VirtualMachinesClientListAllResponse{VirtualMachineListResult: armcompute.VirtualMachineListResult{Value: statuses}}, nil)
		return
	}
	f.network.PublicIPAddressesServer.NewListPager = func(string, *armnetwork.PublicIPAddressesClientListOptions) (resp azfake.PagerResponder[armnetwork.PublicIPAddressesClientListResponse]) {
		resp.AddPage(http.StatusOK, armnetwork.PublicIPAddressesClientListResponse{PublicIPAddressListResult: armnetwork.PublicIPAddressListResult{Value: ips}}, nil)
		return
	}
	return f
}

func TestListInstancesConstantCalls(t *testing.T) {
	for _, n := range []int{1, 10, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := listFakes(n, n*2/5)
			got, err := newFakeClient(t, f).ListInstances(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("listed %d, want %d", len(got), n)
			}
			stopped := 0
			for _, in := range got {
				if in.Status == vps.StatusStopped {
					stopped++
				}
				if in.PublicIP == "" {
					t.Errorf("%s has no public IP", in.HostName)
				}
			}
			if stopped != n*2/5 {
				t.Errorf("%d stopped, want %d", stopped, n*2/5)
			}
			// VM list pages (ceil((n+1)/10)) + one status list + one IP list: never per VM.
			want := (n+1+9)/10 + 2
			if f.callCount() != want {
				t.Errorf("%d ARM calls for %d VMs, want %d: %v", f.callCount(), n, want, f.calls)
			}
		})
	}
}

func TestGetInstance(t *testing.T) {
	f := listFakes(3, 1)
	c := newFakeClient(t, f)
	in, err := c.GetInstance(t.Context(), core.HostID(fmt.Sprintf("host-%032x", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]any{"h00", vps.StatusStopped, "203.0.113.1", time.Unix(1700000000, 0).UTC()}, []any{in.HostName, in.Status, in.PublicIP, in.CreatedAt}); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if _, err := c.GetInstance(t.Context(), "host-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"); !errorsIs(err, core.ErrNotFound) {
		t.Errorf("missing host: %v", err)
	}
}

func BenchmarkListInstances50(b *testing.B) {
	f := listFakes(50, 20)
	cfg := DefaultConfig()
	cfg.SubscriptionID = "00000000-0000-0000-0000-000000000001"
	c, err := NewClient("azure", cfg, ClientOptions{Credential: &azfake.TokenCredential{}, Transport: f, PollFrequency: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.ListInstances(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.callCount())/float64(b.N), "arm-calls/op")
}
