package azure

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func gcTags(provider, createdAt string) map[string]*string {
	return map[string]*string{tagManagedBy: to.Ptr("mngr"), tagProvider: to.Ptr(provider), tagCreatedAt: to.Ptr(createdAt)}
}

func gcFakes(deleted *[]string) *fakeARM {
	old, young := "1799999000", "1799999900" // now is 1800000000: 1000 s and 100 s ago
	// A VM that has an agent is never garbage.
	okTags := gcTags("azure", old)
	for k, v := range encodeAgentTags([]core.AgentRecord{{ID: core.NewAgentID(), Name: "a1"}}) {
		okTags[k] = to.Ptr(v)
	}
	f := &fakeARM{}
	f.compute.VirtualMachinesServer.NewListPager = func(string, *armcompute.VirtualMachinesClientListOptions) (resp azfake.PagerResponder[armcompute.VirtualMachinesClientListResponse]) {
		resp.AddPage(http.StatusOK, armcompute.VirtualMachinesClientListResponse{VirtualMachineListResult: armcompute.VirtualMachineListResult{Value: []*armcompute.VirtualMachine{
			{Name: to.Ptr("failed-vm"), Tags: gcTags("azure", old), Properties: &armcompute.VirtualMachineProperties{ProvisioningState: to.Ptr("Failed")}},
			{Name: to.Ptr("ok-vm"), Tags: okTags, Properties: &armcompute.VirtualMachineProperties{ProvisioningState: to.Ptr("Succeeded")}},
		}}}, nil)
		return
	}
	f.compute.VirtualMachinesServer.BeginDelete = func(_ context.Context, _, name string, _ *armcompute.VirtualMachinesClientBeginDeleteOptions) (resp azfake.PollerResponder[armcompute.VirtualMachinesClientDeleteResponse], errResp azfake.ErrorResponder) {
		*deleted = append(*deleted, "vm "+name)
		resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachinesClientDeleteResponse{}, nil)
		return
	}
	f.network.InterfacesServer.NewListPager = func(string, *armnetwork.InterfacesClientListOptions) (resp azfake.PagerResponder[armnetwork.InterfacesClientListResponse]) {
		resp.AddPage(http.StatusOK, armnetwork.InterfacesClientListResponse{InterfaceListResult: armnetwork.InterfaceListResult{Value: []*armnetwork.Interface{
			{Name: to.Ptr("old-nic"), Tags: gcTags("azure", old), Properties: &armnetwork.InterfacePropertiesFormat{}},
			{Name: to.Ptr("reserved-nic"), Tags: gcTags("azure", old), Properties: &armnetwork.InterfacePropertiesFormat{}},
			{Name: to.Ptr("young-nic"), Tags: gcTags("azure", young), Properties: &armnetwork.InterfacePropertiesFormat{}},
			{Name: to.Ptr("attached-nic"), Tags: gcTags("azure", old), Properties: &armnetwork.InterfacePropertiesFormat{VirtualMachine: &armnetwork.SubResource{ID: to.Ptr("vm")}}},
			{Name: to.Ptr("other-provider-nic"), Tags: gcTags("azure-east", old), Properties: &armnetwork.InterfacePropertiesFormat{}},
		}}}, nil)
		return
	}
	f.network.InterfacesServer.BeginDelete = func(_ context.Context, _, name string, _ *armnetwork.InterfacesClientBeginDeleteOptions) (resp azfake.PollerResponder[armnetwork.InterfacesClientDeleteResponse], errResp azfake.ErrorResponder) {
		if name == "reserved-nic" {
			errResp.SetResponseError(http.StatusBadRequest, "NicReservedForAnotherVm")
			return
		}
		*deleted = append(*deleted, "nic "+name)
		resp.SetTerminalResponse(http.StatusOK, armnetwork.InterfacesClientDeleteResponse{}, nil)
		return
	}
	f.network.PublicIPAddressesServer.NewListPager = func(string, *armnetwork.PublicIPAddressesClientListOptions) (resp azfake.PagerResponder[armnetwork.PublicIPAddressesClientListResponse]) {
		resp.AddPage(http.StatusOK, armnetwork.PublicIPAddressesClientListResponse{PublicIPAddressListResult: armnetwork.PublicIPAddressListResult{Value: []*armnetwork.PublicIPAddress{
			{Name: to.Ptr("old-ip"), Tags: gcTags("azure", old), Properties: &armnetwork.PublicIPAddressPropertiesFormat{}},
			{Name: to.Ptr("young-ip"), Tags: gcTags("azure", young), Properties: &armnetwork.PublicIPAddressPropertiesFormat{}},
			{Name: to.Ptr("used-ip"), Tags: gcTags("azure", old), Properties: &armnetwork.PublicIPAddressPropertiesFormat{IPConfiguration: &armnetwork.IPConfiguration{ID: to.Ptr("x")}}},
		}}}, nil)
		return
	}
	f.network.PublicIPAddressesServer.BeginDelete = func(_ context.Context, _, name string, _ *armnetwork.PublicIPAddressesClientBeginDeleteOptions) (resp azfake.PollerResponder[armnetwork.PublicIPAddressesClientDeleteResponse], errResp azfake.ErrorResponder) {
		*deleted = append(*deleted, "ip "+name)
		resp.SetTerminalResponse(http.StatusOK, armnetwork.PublicIPAddressesClientDeleteResponse{}, nil)
		return
	}
	return f
}

func TestCollectGarbage(t *testing.T) {
	for _, dry := range []bool{true, false} {
		var deleted []string
		items, err := newFakeClient(t, gcFakes(&deleted)).CollectGarbage(t.Context(), dry)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
		}
		if d := cmp.Diff([]string{"failed-vm", "old-nic", "reserved-nic", "old-ip"}, names); d != "" {
			t.Errorf("dry=%v items (-want +got)\n%s", dry, d)
		}
		want := []string{"vm failed-vm", "nic old-nic", "ip old-ip"}
		if dry {
			want = nil
		}
		if d := cmp.Diff(want, deleted); d != "" {
			t.Errorf("dry=%v deleted (-want +got)\n%s", dry, d)
		}
		if !dry {
			if it := items[2]; it.Done || it.Error == "" {
				t.Errorf("reserved NIC item %+v: want skipped with a reason", it)
			}
		}
	}
}

var _ = core.GCItem{}

// datedARM answers like fakeARM with a Date header from a server clock.
type datedARM struct {
	*fakeARM
	date time.Time
}

func (d datedARM) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.fakeARM.Do(req)
	if resp != nil {
		resp.Header.Set("Date", d.date.UTC().Format(http.TimeFormat))
	}
	return resp, err //nolint:wrapcheck // test transport
}

// TestCollectGarbageServerClock checks that gc ages resources by the ARM
// server's Date header, not the local clock (1800000000 in the fakes).
func TestCollectGarbageServerClock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server int64
		want   []string
	}{
		// Server 1000 s ahead: the 100 s-old "young" ones are 1100 s old.
		{"server ahead", 1_800_001_000, []string{"failed-vm", "old-nic", "reserved-nic", "young-nic", "old-ip", "young-ip"}},
		// Server 900 s behind: even the "old" ones are only 100 s old.
		{"server behind", 1_799_999_100, nil},
		// Exactly 240 s old by the server clock counts as old enough.
		{"threshold", 1_799_999_900 + 240, []string{"failed-vm", "old-nic", "reserved-nic", "young-nic", "old-ip", "young-ip"}},
		{"just under threshold", 1_799_999_900 + 239, []string{"failed-vm", "old-nic", "reserved-nic", "old-ip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var deleted []string
			cfg := DefaultConfig()
			cfg.SubscriptionID = "00000000-0000-0000-0000-000000000001"
			c, err := NewClient("azure", cfg, ClientOptions{Credential: &azfake.TokenCredential{}, Transport: datedARM{gcFakes(&deleted), time.Unix(tc.server, 0)}, PollFrequency: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			c.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
			items, err := c.CollectGarbage(t.Context(), true)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range items {
				names = append(names, it.Name)
			}
			if d := cmp.Diff(tc.want, names); d != "" {
				t.Errorf("items (-want +got)\n%s", d)
			}
		})
	}
}

func TestGarbageVMRules(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	created := func(ago time.Duration) map[string]*string {
		return map[string]*string{tagCreatedAt: to.Ptr(strconv.FormatInt(now.Add(-ago).Unix(), 10))}
	}
	withAgent := func(ago time.Duration) map[string]*string {
		tags := created(ago)
		for k, v := range encodeAgentTags([]core.AgentRecord{{ID: core.NewAgentID(), Name: "a1"}}) {
			tags[k] = to.Ptr(v)
		}
		return tags
	}
	emptyMirror := func(ago time.Duration) map[string]*string {
		tags := created(ago)
		for k, v := range encodeAgentTags(nil) {
			tags[k] = to.Ptr(v)
		}
		return tags
	}
	garbled := created(time.Hour)
	garbled[tagAgents] = to.Ptr("v9:1")
	cases := []struct {
		name         string
		tags         map[string]*string
		provisioning string
		collect      bool
	}{
		{"failed, old", created(5 * time.Minute), "Failed", true},
		{"failed, young", created(time.Minute), "Failed", false},
		{"no agents, 31 min", created(31 * time.Minute), "Succeeded", true},
		{"empty mirror, 31 min", emptyMirror(31 * time.Minute), "Succeeded", true},
		{"no agents, 29 min (create may still run)", created(29 * time.Minute), "Succeeded", false},
		{"no agents, still creating", created(time.Hour), "Creating", false},
		{"with an agent, old", withAgent(48 * time.Hour), "Succeeded", false},
		{"undecodable mirror", garbled, "Succeeded", false},
		{"no created-at tag", map[string]*string{}, "Succeeded", false},
	}
	for _, c := range cases {
		if got := garbageVM(c.tags, c.provisioning, now, func(int) bool { return true }) != ""; got != c.collect {
			t.Errorf("%s: collect = %v, want %v", c.name, got, c.collect)
		}
	}
}

// TestGarbageVMInterruptedCreate: the remains of a create whose mngr
// process ran on this machine and has ended go at once; a live process, a
// create on another machine, or a VM that had agents wait their age.
func TestGarbageVMInterruptedCreate(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	young := strconv.FormatInt(now.Add(-10*time.Second).Unix(), 10)
	tags := func(creator string, mirror bool) map[string]*string {
		m := map[string]*string{tagCreatedAt: to.Ptr(young), tagCreator: to.Ptr(creator)}
		if mirror {
			for k, v := range encodeAgentTags(nil) {
				m[k] = to.Ptr(v)
			}
		}
		return m
	}
	dead := func(pid int) bool { return pid != 4242 }
	here := thisMachine() + ":4242"
	cases := []struct {
		name         string
		tags         map[string]*string
		provisioning string
		collect      bool
	}{
		{"this machine, process ended, never an agent", tags(here, false), "Succeeded", true},
		{"this machine, process ended, provisioning failed", tags(here, false), "Failed", true},
		{"this machine, process ended, but it had agents", tags(here, true), "Succeeded", false},
		{"this machine, process alive (in flight)", tags(thisMachine()+":1", false), "Succeeded", false},
		{"another machine", tags("0123456789ab:4242", false), "Succeeded", false},
		{"garbled creator", tags("nonsense", false), "Succeeded", false},
		{"still provisioning", tags(here, false), "Creating", false},
	}
	for _, c := range cases {
		if got := garbageVM(c.tags, c.provisioning, now, dead) != ""; got != c.collect {
			t.Errorf("%s: collect = %v, want %v", c.name, got, c.collect)
		}
	}
	// An image builder (mngr azure bake) goes once its bake ended, even
	// deallocated and generalized, and after 30 minutes whatever its process.
	builder := func(creator string, age time.Duration) map[string]*string {
		return map[string]*string{tagCreatedAt: to.Ptr(strconv.FormatInt(now.Add(-age).Unix(), 10)), tagCreator: to.Ptr(creator), tagBuilder: to.Ptr("mngr-agent-0123")}
	}
	for _, c := range []struct {
		name         string
		tags         map[string]*string
		provisioning string
		collect      bool
	}{
		{"builder, bake ended", builder(here, time.Minute), "Succeeded", true},
		{"builder, bake running", builder(thisMachine()+":1", time.Minute), "Succeeded", false},
		{"builder, bake running, 31 min", builder(thisMachine()+":1", 31*time.Minute), "Succeeded", true},
		{"builder, bake ended, still provisioning", builder(here, time.Minute), "Creating", false},
	} {
		if got := garbageVM(c.tags, c.provisioning, now, dead); (got != "") != c.collect || (c.collect && !strings.Contains(got, "builder")) {
			t.Errorf("%s: reason %q, want collect = %v", c.name, got, c.collect)
		}
	}
	if r := looseReason("NIC", tags(here, false), now, dead); r == "" {
		t.Error("the NIC of an ended create is kept")
	}
	if r := looseReason("NIC", tags(thisMachine()+":1", false), now, dead); r != "" {
		t.Errorf("the young NIC of a live create is collected: %s", r)
	}
	if !processAlive(os.Getpid()) {
		t.Error("this process is not alive")
	}
}
