package azure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// instanceViewWorkers bounds the parallel per-VM instance views of a list
// that may not use the subscription-wide one.
const instanceViewWorkers = 8

// createAttempt creates the public IP, NIC and VM of spec, one (region,
// size) candidate of host id. The NIC and public IP are named after
// spec.NetBase; on failure they are removed as far as Azure allows. A VM
// whose create Azure accepted and then failed is deleted first: it would
// otherwise hold its NIC, disk and IP, billing.
//
// An interrupt cancels ctx: the clean-up then runs on a fresh, bounded
// context (core.UndoContext), and a resource whose create request was sent
// counts as made. Until the create is done, each resource is noted in the
// command's core.Leftovers under the host id, so a second interrupt can
// name what may remain.
func (c *Client) createAttempt(ctx context.Context, id core.HostID, spec VMSpec) (vps.Instance, error) {
	rg := c.cfg.ResourceGroup
	left := core.LeftoversFrom(ctx)
	key := string(id) + "/" + spec.NetBase
	note := func(kind, name string) {
		left.Add(core.Leftover{Key: key, Kind: "Azure " + kind, Name: name + " (resource group " + rg + ")",
			Remove: "mngr gc --provider " + c.providerName})
	}
	undo := func() (context.Context, context.CancelFunc) { return core.UndoContext(ctx, core.UndoTimeout) }
	var ipAddr string
	if c.cfg.PublicIP() {
		note("public IP", spec.PublicIPName())
		ip, err := awaitLRO(ctx, c, "creating public IP "+spec.PublicIPName(),
			func() (*runtime.Poller[armnetwork.PublicIPAddressesClientCreateOrUpdateResponse], error) {
				return c.ips.BeginCreateOrUpdate(ctx, rg, spec.PublicIPName(), spec.PublicIPParameters(), nil)
			}, classifyAs("create public ip "+spec.PublicIPName(), spec.Region, spec.Size))
		if err != nil {
			if ctx.Err() == nil {
				left.Forget(key)
				return vps.Instance{}, err
			}
			uctx, cancel := undo()
			if c.cleanupNetwork(uctx, spec.NetBase, false) {
				left.Forget(key)
			}
			cancel()
			return vps.Instance{}, err
		}
		spec.PublicIPID = deref(ip.ID)
		if ip.Properties != nil {
			ipAddr = deref(ip.Properties.IPAddress)
		}
	}
	note("network interface", spec.NICName())
	nic, err := awaitLRO(ctx, c, "creating network interface "+spec.NICName(),
		func() (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error) {
			return c.nics.BeginCreateOrUpdate(ctx, rg, spec.NICName(), spec.NICParameters(), nil)
		}, classifyAs("create nic "+spec.NICName(), spec.Region, spec.Size))
	if err != nil {
		uctx, cancel := undo()
		// Interrupted, the NIC's create request may have been taken.
		if c.cleanupNetwork(uctx, spec.NetBase, ctx.Err() != nil) {
			left.Forget(key)
		}
		cancel()
		return vps.Instance{}, err
	}
	spec.NICID = deref(nic.ID)
	note("virtual machine", spec.Name)
	note("OS disk", osDiskName(spec.Name))
	vmAccepted := false
	vm, err := awaitLRO(ctx, c, fmt.Sprintf("creating VM %s (%s in %s)", spec.Name, spec.Size, spec.Region),
		func() (*runtime.Poller[armcompute.VirtualMachinesClientCreateOrUpdateResponse], error) {
			p, err := c.vms.BeginCreateOrUpdate(ctx, rg, spec.Name, spec.Parameters(), nil)
			vmAccepted = err == nil
			return p, err
		}, func(err error) error {
			err = classify(err, "create vm "+spec.Name, spec.Region, spec.Size)
			if errors.Is(err, core.ErrCapacity) {
				err = c.capacityHint(ctx, err, spec.Region, spec.Size, spec.Spot)
			}
			return err
		})
	if err != nil {
		uctx, cancel := undo()
		defer cancel()
		vmGone := true
		if vmAccepted || ctx.Err() != nil {
			vmGone = c.deleteFailedVM(uctx, spec.Name)
		}
		if c.cleanupNetwork(uctx, spec.NetBase, true) && vmGone {
			left.Forget(key)
		}
		return vps.Instance{}, err
	}
	if spec.IdentityID == "" {
		c.disableSelfDealloc(ctx, vm.VirtualMachine)
	}
	inst := c.instanceFrom(vm.VirtualMachine, nil, map[string]string{string(id): ipAddr})
	if inst.Status == vps.StatusUnknown {
		inst.Status = vps.StatusActive
	}
	return inst, nil
}

// ListInstances lists this provider's VMs in a constant number of paged ARM
// calls: the resource group's VMs (models and tags), the subscription's VM
// statuses (statusOnly=true; ARM allows $expand=instanceView on a resource
// group list only together with a $filter) and the group's public IPs.
// An identity refused the subscription-wide list reads one instance view
// per VM instead (powerStates).
func (c *Client) ListInstances(ctx context.Context) ([]vps.Instance, error) {
	var vms []armcompute.VirtualMachine
	pager := c.vms.NewListPager(c.cfg.ResourceGroup, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isNotFound(err) {
			return nil, c.missingScope(err, "list vms in "+c.cfg.ResourceGroup)
		}
		if err != nil {
			return nil, classify(err, "list vms in "+c.cfg.ResourceGroup, c.cfg.DefaultRegion, "")
		}
		for _, vm := range page.Value {
			if vm != nil && tagValue(vm.Tags, tagProvider) == c.providerName && tagValue(vm.Tags, tagHostID) != "" {
				vms = append(vms, *vm)
			}
		}
	}
	if len(vms) == 0 {
		return nil, nil
	}
	statuses, err := c.powerStates(ctx, vms)
	if err != nil {
		return nil, err
	}
	ips, err := c.publicIPsByHost(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]vps.Instance, 0, len(vms))
	for _, vm := range vms {
		out = append(out, c.instanceFrom(vm, statuses[strings.ToLower(deref(vm.ID))], ips))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostName < out[j].HostName })
	return out, nil
}

// powerStates maps VM ids (lowercase) to their status codes. One
// subscription-wide statusOnly list serves them all, but it needs read on
// the whole subscription: an identity with rights on the resource group
// only (Contributor there, the role mngr's own hint asks for) gets 403.
// Then each VM's instance view is read instead, a few at a time, and this
// Client does not try the wide list again.
func (c *Client) powerStates(ctx context.Context, vms []armcompute.VirtualMachine) (map[string][]string, error) {
	if !c.listAllDenied.Load() {
		statuses, err := c.listAllStatuses(ctx)
		if err == nil {
			return statuses, nil
		}
		if !errors.Is(err, core.ErrUnauthorized) {
			return nil, err
		}
		c.listAllDenied.Store(true)
	}
	return c.instanceViewStatuses(ctx, vms)
}

// listAllStatuses reads every VM status of the subscription in one paged list.
func (c *Client) listAllStatuses(ctx context.Context) (map[string][]string, error) {
	statuses := map[string][]string{}
	sp := c.vms.NewListAllPager(&armcompute.VirtualMachinesClientListAllOptions{StatusOnly: to.Ptr("true")})
	for sp.More() {
		page, err := sp.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "list vm power states", c.cfg.DefaultRegion, "")
		}
		for _, vm := range page.Value {
			if vm == nil || vm.ID == nil || vm.Properties == nil || vm.Properties.InstanceView == nil {
				continue
			}
			statuses[strings.ToLower(*vm.ID)] = statusCodes(vm.Properties.InstanceView.Statuses)
		}
	}
	return statuses, nil
}

// instanceViewStatuses reads each VM's instance view, instanceViewWorkers
// at a time. A VM deleted meanwhile is left out (its status stays unknown).
func (c *Client) instanceViewStatuses(ctx context.Context, vms []armcompute.VirtualMachine) (map[string][]string, error) {
	var (
		mu       sync.Mutex
		statuses = map[string][]string{}
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, instanceViewWorkers)
	for _, vm := range vms {
		id, name := deref(vm.ID), deref(vm.Name)
		if id == "" || name == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := c.vms.InstanceView(ctx, c.cfg.ResourceGroup, name, nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case isNotFound(err):
			case err != nil:
				if firstErr == nil {
					firstErr = classify(err, "get instance view of vm "+name, c.cfg.DefaultRegion, "")
				}
			default:
				statuses[strings.ToLower(id)] = statusCodes(r.Statuses)
			}
		}()
	}
	wg.Wait()
	return statuses, firstErr
}

func statusCodes(ss []*armcompute.InstanceViewStatus) []string {
	var codes []string
	for _, s := range ss {
		if s != nil && s.Code != nil {
			codes = append(codes, *s.Code)
		}
	}
	return codes
}

func (c *Client) instanceFrom(vm armcompute.VirtualMachine, codes []string, ips map[string]string) vps.Instance {
	tags := map[string]string{}
	for k, v := range vm.Tags {
		if v != nil {
			tags[k] = *v
		}
	}
	prov := ""
	size := ""
	if vm.Properties != nil {
		prov = deref(vm.Properties.ProvisioningState)
		if vm.Properties.HardwareProfile != nil && vm.Properties.HardwareProfile.VMSize != nil {
			size = string(*vm.Properties.HardwareProfile.VMSize)
		}
		if len(codes) == 0 && vm.Properties.InstanceView != nil {
			for _, s := range vm.Properties.InstanceView.Statuses {
				if s != nil && s.Code != nil {
					codes = append(codes, *s.Code)
				}
			}
		}
	}
	return vps.Instance{
		ID:        deref(vm.ID),
		HostID:    core.HostID(tags[tagHostID]),
		HostName:  tags[tagHostName],
		Status:    powerStatus(prov, codes),
		PublicIP:  ips[tags[tagHostID]],
		Region:    deref(vm.Location),
		Size:      size,
		Spot:      vm.Properties != nil && vm.Properties.Priority != nil && *vm.Properties.Priority == armcompute.VirtualMachinePriorityTypesSpot,
		Tags:      tags,
		CreatedAt: time.Unix(parseUnix(tags[tagCreatedAt]), 0).UTC(),
	}
}

// GetInstance finds the one VM tagged with id.
func (c *Client) GetInstance(ctx context.Context, id core.HostID) (vps.Instance, error) {
	all, err := c.ListInstances(ctx)
	if err != nil {
		return vps.Instance{}, err
	}
	var found []vps.Instance
	for _, in := range all {
		if in.HostID == id {
			found = append(found, in)
		}
	}
	switch len(found) {
	case 0:
		return vps.Instance{}, fmt.Errorf("vm tagged %s=%s in resource group %q: %w", tagHostID, id, c.cfg.ResourceGroup, core.ErrNotFound)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, f := range found {
		ids[i] = f.ID
	}
	sort.Strings(ids)
	return vps.Instance{}, fmt.Errorf("provider %q: %d instances are tagged %s=%s (%s); refusing to act on an ambiguous match: %w",
		c.providerName, len(found), tagHostID, id, strings.Join(ids, ", "), core.ErrConflict)
}

// StopInstance deallocates the VM: compute billing stops, disk and static IP stay.
func (c *Client) StopInstance(ctx context.Context, id core.HostID) error {
	in, err := c.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	name := resourceName(in.ID)
	_, err = awaitLRO(ctx, c, "deallocating VM "+name,
		func() (*runtime.Poller[armcompute.VirtualMachinesClientDeallocateResponse], error) {
			return c.vms.BeginDeallocate(ctx, c.cfg.ResourceGroup, name, nil)
		}, classifyAs("deallocate vm "+name, in.Region, in.Size))
	return err
}

// StartInstance starts a deallocated VM; its static public IP is unchanged.
func (c *Client) StartInstance(ctx context.Context, id core.HostID) (vps.Instance, error) {
	in, err := c.GetInstance(ctx, id)
	if err != nil {
		return vps.Instance{}, err
	}
	name := resourceName(in.ID)
	_, err = awaitLRO(ctx, c, "starting VM "+name,
		func() (*runtime.Poller[armcompute.VirtualMachinesClientStartResponse], error) {
			return c.vms.BeginStart(ctx, c.cfg.ResourceGroup, name, nil)
		}, classifyAs("start vm "+name, in.Region, in.Size))
	if err != nil {
		return vps.Instance{}, err
	}
	in.Status = vps.StatusActive
	return in, nil
}

// DestroyInstance deletes the VM (its NIC, IP and disk cascade) and any
// leftover NIC or IP named for the host. Idempotent.
func (c *Client) DestroyInstance(ctx context.Context, id core.HostID) error {
	in, err := c.GetInstance(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	name := resourceName(in.ID)
	if _, err := awaitLRO(ctx, c, "deleting VM "+name, c.deleteVMBegin(ctx, name), func(err error) error {
		return classify(goneIsDone(err), "delete vm "+name, in.Region, in.Size)
	}); err != nil {
		return err
	}
	if err := c.deleteNIC(ctx, nicName(name)); err != nil {
		return classify(err, "delete nic "+nicName(name), in.Region, "")
	}
	if err := c.deleteIP(ctx, ipName(name)); err != nil {
		return classify(err, "delete public ip "+ipName(name), in.Region, "")
	}
	return nil
}

// deleteVMBegin starts the delete of VM name; its OS disk, NIC and public
// IP cascade (their deleteOption).
func (c *Client) deleteVMBegin(ctx context.Context, name string) func() (*runtime.Poller[armcompute.VirtualMachinesClientDeleteResponse], error) {
	return func() (*runtime.Poller[armcompute.VirtualMachinesClientDeleteResponse], error) {
		return c.vms.BeginDelete(ctx, c.cfg.ResourceGroup, name, nil)
	}
}

// powerStatus maps Azure's provisioning and power state codes to an instance status.
func powerStatus(provisioning string, codes []string) vps.InstanceStatus {
	switch strings.ToLower(provisioning) {
	case "failed":
		return vps.StatusFailed
	case "deleting":
		return vps.StatusDestroying
	case "creating":
		return vps.StatusPending
	}
	for _, c := range codes {
		switch strings.ToLower(c) {
		case "powerstate/running":
			return vps.StatusActive
		case "powerstate/deallocated":
			return vps.StatusStopped
		case "powerstate/stopped":
			return vps.StatusStoppedBilling
		case "powerstate/starting":
			return vps.StatusPending
		case "powerstate/deallocating", "powerstate/stopping":
			return vps.StatusStopping
		}
	}
	if slices.Contains([]string{"updating"}, strings.ToLower(provisioning)) {
		return vps.StatusPending
	}
	return vps.StatusUnknown
}

// parseUnix parses a decimal unix-seconds tag value; 0 when malformed.
func parseUnix(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
