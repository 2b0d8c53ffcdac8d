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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// instanceViewWorkers bounds the parallel per-VM instance views of a list
// that may not use the subscription-wide one.
const instanceViewWorkers = 8

// createAttempt creates the public IP, NIC and VM of a host for one
// (region, size) candidate. netBase names the attempt's NIC and public IP
// (nicName(netBase), ipName(netBase)); on failure they are removed as far
// as Azure allows. A VM whose create Azure accepted and then failed is
// deleted first: it would otherwise hold its NIC, disk and IP, billing.
func (c *Client) createAttempt(ctx context.Context, req vps.CreateInstanceRequest, name, netBase, region, size string, tags map[string]*string) (vps.Instance, error) {
	prog := core.ProgressFrom(ctx)
	rg := c.cfg.ResourceGroup

	var ipID, ipAddr string
	if c.cfg.PublicIP() {
		done := prog.Step("creating public IP " + ipName(netBase))
		p, err := c.ips.BeginCreateOrUpdate(ctx, rg, ipName(netBase), publicIPSpec(region, tags), nil)
		var res armnetwork.PublicIPAddressesClientCreateOrUpdateResponse
		if err == nil {
			res, err = p.PollUntilDone(ctx, c.poll())
		}
		err = classify(err, "create public ip "+ipName(netBase), region, size)
		done(err)
		if err != nil {
			return vps.Instance{}, err
		}
		ipID = deref(res.ID)
		if res.Properties != nil {
			ipAddr = deref(res.Properties.IPAddress)
		}
	}
	done := prog.Step("creating network interface " + nicName(netBase))
	np, err := c.nics.BeginCreateOrUpdate(ctx, rg, nicName(netBase), nicSpec(region, c.subnetID(), ipID, tags), nil)
	var nic armnetwork.InterfacesClientCreateOrUpdateResponse
	if err == nil {
		nic, err = np.PollUntilDone(ctx, c.poll())
	}
	err = classify(err, "create nic "+nicName(netBase), region, size)
	done(err)
	if err != nil {
		c.cleanupNetwork(ctx, netBase, false)
		return vps.Instance{}, err
	}
	done = prog.Step(fmt.Sprintf("creating VM %s (%s in %s)", name, size, region))
	vp, err := c.vms.BeginCreateOrUpdate(ctx, rg, name, vmSpec(c.cfg, name, region, size, req.ProviderArgs.Spot, deref(nic.ID), req.AdminPublicKey, req.UserData, tags), nil)
	var vm armcompute.VirtualMachinesClientCreateOrUpdateResponse
	vmAccepted := err == nil
	if err == nil {
		vm, err = vp.PollUntilDone(ctx, c.poll())
	}
	if err != nil {
		cerr := classify(err, "create vm "+name, region, size)
		if errors.Is(cerr, core.ErrCapacity) {
			cerr = c.capacityHint(ctx, cerr, region, size, req.ProviderArgs.Spot)
		}
		done(cerr)
		if vmAccepted {
			c.deleteFailedVM(ctx, name)
		}
		c.cleanupNetwork(ctx, netBase, true)
		return vps.Instance{}, cerr
	}
	done(nil)
	c.assignSelfDeallocate(ctx, vm.VirtualMachine)
	inst := c.instanceFrom(vm.VirtualMachine, nil, map[string]string{string(req.HostID): ipAddr})
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
			return nil, nil // no resource group: nothing created yet
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
	done := core.ProgressFrom(ctx).Step("deallocating VM " + name)
	p, err := c.vms.BeginDeallocate(ctx, c.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, c.poll())
	}
	err = classify(err, "deallocate vm "+name, in.Region, in.Size)
	done(err)
	return err
}

// StartInstance starts a deallocated VM; its static public IP is unchanged.
func (c *Client) StartInstance(ctx context.Context, id core.HostID) (vps.Instance, error) {
	in, err := c.GetInstance(ctx, id)
	if err != nil {
		return vps.Instance{}, err
	}
	name := resourceName(in.ID)
	done := core.ProgressFrom(ctx).Step("starting VM " + name)
	p, err := c.vms.BeginStart(ctx, c.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, c.poll())
	}
	err = classify(err, "start vm "+name, in.Region, in.Size)
	done(err)
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
	done := core.ProgressFrom(ctx).Step("deleting VM " + name)
	p, err := c.vms.BeginDelete(ctx, c.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, c.poll())
	}
	if isNotFound(err) {
		err = nil
	}
	err = classify(err, "delete vm "+name, in.Region, in.Size)
	done(err)
	if err != nil {
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
