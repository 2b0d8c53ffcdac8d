package azsim_test

import (
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
)

func TestVMDetachAndExpand(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	nicID, _ := c.network(ctx, t, "rg1", "d1")
	params := vmParams(nicID, "Standard_B1s")
	params.Properties.NetworkProfile.NetworkInterfaces[0].Properties.DeleteOption = to.Ptr(armcompute.DeleteOptionsDetach)
	params.Properties.StorageProfile.OSDisk.DeleteOption = to.Ptr(armcompute.DiskDeleteOptionTypesDetach)
	p, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vm1", params, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatal(err)
	}
	// $expand=instanceView on a resource-group list needs a $filter.
	pager := c.vm.NewListPager("rg1", &armcompute.VirtualMachinesClientListOptions{Expand: to.Ptr(armcompute.ExpandTypeForListVMsInstanceView)})
	if _, err := pager.NextPage(ctx); errCode(err) != "InvalidParameter" {
		t.Errorf("list with expand and no filter: %v, want InvalidParameter", err)
	}
	got, err := c.vm.Get(ctx, "rg1", "vm1", &armcompute.VirtualMachinesClientGetOptions{Expand: to.Ptr(armcompute.InstanceViewTypesInstanceView)})
	if err != nil || got.Properties.InstanceView == nil {
		t.Fatalf("get with expand: %v", err)
	}
	pp, err := c.vm.BeginPowerOff(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	iv, err := c.vm.InstanceView(ctx, "rg1", "vm1", nil)
	if err != nil || *iv.Statuses[1].Code != "PowerState/stopped" {
		t.Fatalf("after power off: %v %v", err, iv.Statuses)
	}
	dp, err := c.vm.BeginDelete(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	nic, err := c.nic.Get(ctx, "rg1", "d1-nic", nil)
	if err != nil {
		t.Fatalf("detached nic: %v", err)
	}
	if nic.Properties.VirtualMachine != nil {
		t.Errorf("nic still names vm %v", *nic.Properties.VirtualMachine.ID)
	}
	var state struct {
		Resources map[string]int `json:"resources"`
	}
	s.admin(t, "GET", "/state", "", &state)
	if state.Resources["Microsoft.Compute/disks"] != 1 || state.Resources["Microsoft.Compute/virtualMachines"] != 0 {
		t.Errorf("after detach delete: %v (os disk %s)", state.Resources, *v.Properties.StorageProfile.OSDisk.Name)
	}
}
