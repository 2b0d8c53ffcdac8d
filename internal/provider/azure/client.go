package azure

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Consumer interfaces: only the SDK methods this package calls (STYLE 3).
type vmAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armcompute.VirtualMachine, o *armcompute.VirtualMachinesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armcompute.VirtualMachinesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginDeleteOptions) (*runtime.Poller[armcompute.VirtualMachinesClientDeleteResponse], error)
	BeginDeallocate(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginDeallocateOptions) (*runtime.Poller[armcompute.VirtualMachinesClientDeallocateResponse], error)
	BeginStart(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginStartOptions) (*runtime.Poller[armcompute.VirtualMachinesClientStartResponse], error)
	NewListPager(rg string, o *armcompute.VirtualMachinesClientListOptions) *runtime.Pager[armcompute.VirtualMachinesClientListResponse]
	NewListAllPager(o *armcompute.VirtualMachinesClientListAllOptions) *runtime.Pager[armcompute.VirtualMachinesClientListAllResponse]
	InstanceView(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientInstanceViewOptions) (armcompute.VirtualMachinesClientInstanceViewResponse, error)
}

type nicAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armnetwork.Interface, o *armnetwork.InterfacesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.InterfacesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armnetwork.InterfacesClientBeginDeleteOptions) (*runtime.Poller[armnetwork.InterfacesClientDeleteResponse], error)
	NewListPager(rg string, o *armnetwork.InterfacesClientListOptions) *runtime.Pager[armnetwork.InterfacesClientListResponse]
}

type publicIPAPI interface {
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armnetwork.PublicIPAddress, o *armnetwork.PublicIPAddressesClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.PublicIPAddressesClientCreateOrUpdateResponse], error)
	BeginDelete(ctx context.Context, rg, name string, o *armnetwork.PublicIPAddressesClientBeginDeleteOptions) (*runtime.Poller[armnetwork.PublicIPAddressesClientDeleteResponse], error)
	NewListPager(rg string, o *armnetwork.PublicIPAddressesClientListOptions) *runtime.Pager[armnetwork.PublicIPAddressesClientListResponse]
}

type subnetAPI interface {
	Get(ctx context.Context, rg, vnet, name string, o *armnetwork.SubnetsClientGetOptions) (armnetwork.SubnetsClientGetResponse, error)
}

type tagsAPI interface {
	BeginUpdateAtScope(ctx context.Context, scope string, p armresources.TagsPatchResource, o *armresources.TagsClientBeginUpdateAtScopeOptions) (*runtime.Poller[armresources.TagsClientUpdateAtScopeResponse], error)
}

type roleAssignmentAPI interface {
	Create(ctx context.Context, scope, name string, p armauthorization.RoleAssignmentCreateParameters, o *armauthorization.RoleAssignmentsClientCreateOptions) (armauthorization.RoleAssignmentsClientCreateResponse, error)
}

var (
	_ vmAPI             = (*armcompute.VirtualMachinesClient)(nil)
	_ nicAPI            = (*armnetwork.InterfacesClient)(nil)
	_ publicIPAPI       = (*armnetwork.PublicIPAddressesClient)(nil)
	_ subnetAPI         = (*armnetwork.SubnetsClient)(nil)
	_ tagsAPI           = (*armresources.TagsClient)(nil)
	_ roleAssignmentAPI = (*armauthorization.RoleAssignmentsClient)(nil)
)

// Client implements vps.VpsClient, vps.AgentMirror and core.GarbageCollector over ARM.
type Client struct {
	cfg          Config
	providerName string
	subscription string
	vms          vmAPI
	nics         nicAPI
	ips          publicIPAPI
	subnets      subnetAPI
	tags         tagsAPI
	roles        roleAssignmentAPI
	skus         skusAPI
	usages       usageAPI
	infra        infraClients
	pollEvery    time.Duration
	now          func() time.Time

	// roleGUID is the self-deallocate role's id once found (roleMu).
	roleMu   sync.Mutex
	roleGUID string
	// assignPauses are the waits between tries of a role assignment that
	// Azure answers PrincipalNotFound (a new identity not yet replicated).
	assignPauses []time.Duration
	// listAllDenied remembers a 403 on the subscription-wide VM list, so
	// later lists go straight to per-VM instance views.
	listAllDenied atomic.Bool
}

// defaultAssignPauses wait about a minute in all for a new VM identity to
// reach the directory replica ARM checks role assignments against.
var defaultAssignPauses = []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// instanceViewWorkers bounds the parallel per-VM instance views of a list
// that may not use the subscription-wide one.
const instanceViewWorkers = 8

var (
	_ vps.VpsClient         = (*Client)(nil)
	_ vps.AgentMirror       = (*Client)(nil)
	_ core.GarbageCollector = (*Client)(nil)
)

// ClientOptions are the injectable parts of a Client.
type ClientOptions struct {
	// Credential overrides DefaultAzureCredential (tests).
	Credential azcore.TokenCredential
	// Transport overrides the HTTP transport of every ARM client (tests, fakes).
	Transport policy.Transporter
	// PollFrequency is the LRO polling interval (default 2 s).
	PollFrequency time.Duration
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
}

// NewClient builds the ARM clients once from client factories (STYLE 11).
// It makes no network call.
func NewClient(providerName string, cfg Config, opts ClientOptions) (*Client, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	sub, err := ResolveSubscription(cfg.SubscriptionID, getenv)
	if err != nil {
		return nil, err
	}
	cc, err := cfg.cloudConfig()
	if err != nil {
		return nil, err
	}
	cred := opts.Credential
	if cred == nil {
		if cred, err = newCredential(cc, getenv); err != nil {
			return nil, err
		}
	}
	ao := armOptions(cc, opts.Transport)
	compute, err := armcompute.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create compute clients: %w", err)
	}
	network, err := armnetwork.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create network clients: %w", err)
	}
	resources, err := armresources.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create resources clients: %w", err)
	}
	authz, err := armauthorization.NewClientFactory(sub, cred, ao)
	if err != nil {
		return nil, fmt.Errorf("create authorization clients: %w", err)
	}
	poll := opts.PollFrequency
	if poll == 0 {
		poll = 2 * time.Second
	}
	return &Client{
		cfg: cfg, providerName: providerName, subscription: sub,
		vms: compute.NewVirtualMachinesClient(), nics: network.NewInterfacesClient(),
		ips: network.NewPublicIPAddressesClient(), subnets: network.NewSubnetsClient(),
		tags: resources.NewTagsClient(), roles: authz.NewRoleAssignmentsClient(), skus: compute.NewResourceSKUsClient(),
		usages: compute.NewUsageClient(),
		infra: infraClients{
			providers: resources.NewProvidersClient(), groups: resources.NewResourceGroupsClient(),
			nsgs: network.NewSecurityGroupsClient(), vnets: network.NewVirtualNetworksClient(),
			subnets: network.NewSubnetsClient(), roleDefs: authz.NewRoleDefinitionsClient(),
		},
		pollEvery: poll, now: time.Now, assignPauses: defaultAssignPauses,
	}, nil
}

func (c *Client) poll() *runtime.PollUntilDoneOptions {
	return &runtime.PollUntilDoneOptions{Frequency: c.pollEvery}
}

// ParseBuildArgs claims the Azure build args.
func (c *Client) ParseBuildArgs(args []string) (vps.ProviderArgs, []string, error) {
	return ParseBuildArgs(args, c.cfg)
}

// Preflight checks read-only that the prepared subnet exists.
func (c *Client) Preflight(ctx context.Context) error {
	_, err := c.subnets.Get(ctx, c.cfg.ResourceGroup, c.cfg.VnetName, c.cfg.SubnetName, nil)
	// A wrong subscription is also a 404; say that, not "subnet not found".
	if code := errorCode(err); isNotFound(err) && code != "SubscriptionNotFound" && code != "InvalidSubscriptionId" {
		return core.WithHint(fmt.Errorf("subnet %s/%s in resource group %q not found: %w", c.cfg.VnetName, c.cfg.SubnetName, c.cfg.ResourceGroup, core.ErrUnavailable),
			"run: mngr azure prepare --provider %s", c.providerName)
	}
	return classify(err, "get subnet "+c.cfg.SubnetName, c.cfg.DefaultRegion, "")
}

func (c *Client) subnetID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s",
		c.subscription, c.cfg.ResourceGroup, c.cfg.VnetName, c.cfg.SubnetName)
}

// baseTags are the five fixed tags of every mngr resource of a host.
func (c *Client) baseTags(req vps.CreateInstanceRequest) map[string]*string {
	return map[string]*string{
		tagManagedBy: to.Ptr(tagManagedByMngr),
		tagProvider:  to.Ptr(c.providerName),
		tagHostID:    to.Ptr(string(req.HostID)),
		tagHostName:  to.Ptr(req.HostName),
		tagCreatedAt: to.Ptr(strconv.FormatInt(c.now().Unix(), 10)),
	}
}

// publicIPSpec renders the static Standard public IP of a host.
func publicIPSpec(region string, tags map[string]*string) armnetwork.PublicIPAddress {
	return armnetwork.PublicIPAddress{
		Location: to.Ptr(region),
		Tags:     tags,
		SKU:      &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{
			PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic),
			PublicIPAddressVersion:   to.Ptr(armnetwork.IPVersionIPv4),
		},
	}
}

// nicSpec renders the NIC; the public IP is deleted with the VM via the ipConfiguration's deleteOption.
func nicSpec(region, subnetID, publicIPID string, tags map[string]*string) armnetwork.Interface {
	ipProps := &armnetwork.InterfaceIPConfigurationPropertiesFormat{
		Subnet:                    &armnetwork.Subnet{ID: to.Ptr(subnetID)},
		PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic),
		Primary:                   to.Ptr(true),
	}
	if publicIPID != "" {
		ipProps.PublicIPAddress = &armnetwork.PublicIPAddress{
			ID:         to.Ptr(publicIPID),
			Properties: &armnetwork.PublicIPAddressPropertiesFormat{DeleteOption: to.Ptr(armnetwork.DeleteOptionsDelete)},
		}
	}
	return armnetwork.Interface{
		Location: to.Ptr(region),
		Tags:     tags,
		Properties: &armnetwork.InterfacePropertiesFormat{
			IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{Name: to.Ptr("ipconfig1"), Properties: ipProps}},
		},
	}
}

// vmSpec renders the VM model of a host (STYLE 5).
func vmSpec(cfg Config, name, region, size string, spot bool, nicID, publicKey string, userData []byte, tags map[string]*string) armcompute.VirtualMachine {
	vm := armcompute.VirtualMachine{
		Location: to.Ptr(region),
		Tags:     tags,
		Identity: &armcompute.VirtualMachineIdentity{Type: to.Ptr(armcompute.ResourceIdentityTypeSystemAssigned)},
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))},
			StorageProfile: &armcompute.StorageProfile{
				ImageReference: &armcompute.ImageReference{
					Publisher: to.Ptr(cfg.ImagePublisher), Offer: to.Ptr(cfg.ImageOffer),
					SKU: to.Ptr(cfg.ImageSKU), Version: to.Ptr(cfg.ImageVersion),
				},
				OSDisk: &armcompute.OSDisk{
					CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage),
					DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete),
					DiskSizeGB:   to.Ptr(cfg.OSDiskSizeGB),
					ManagedDisk:  &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypes(cfg.OSDiskType))},
				},
			},
			OSProfile: &armcompute.OSProfile{
				ComputerName:  to.Ptr(name),
				AdminUsername: to.Ptr(cfg.AdminUsername),
				CustomData:    to.Ptr(base64.StdEncoding.EncodeToString(userData)),
				LinuxConfiguration: &armcompute.LinuxConfiguration{
					DisablePasswordAuthentication: to.Ptr(true),
					SSH: &armcompute.SSHConfiguration{PublicKeys: []*armcompute.SSHPublicKey{{
						Path:    to.Ptr("/home/" + cfg.AdminUsername + "/.ssh/authorized_keys"),
						KeyData: to.Ptr(strings.TrimSpace(publicKey)),
					}}},
				},
			},
			NetworkProfile: &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{
				ID: to.Ptr(nicID),
				Properties: &armcompute.NetworkInterfaceReferenceProperties{
					Primary: to.Ptr(true), DeleteOption: to.Ptr(armcompute.DeleteOptionsDelete),
				},
			}}},
		},
	}
	if spot {
		vm.Properties.Priority = to.Ptr(armcompute.VirtualMachinePriorityTypesSpot)
		vm.Properties.EvictionPolicy = to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDelete)
		vm.Properties.BillingProfile = &armcompute.BillingProfile{MaxPrice: to.Ptr(-1.0)}
	}
	return vm
}

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

// cleanupNetwork deletes a failed create's NIC then public IP; a NIC Azure
// still reserves for the would-be VM is left for gc.
func (c *Client) cleanupNetwork(ctx context.Context, name string, nicCreated bool) {
	prog := core.ProgressFrom(ctx)
	if nicCreated {
		if err := c.deleteNIC(ctx, nicName(name)); err != nil {
			if errorCode(err) == "NicReservedForAnotherVm" {
				prog.Warn(fmt.Sprintf("network interface %s and public IP %s are reserved by Azure for a few minutes; `mngr gc` will remove them", nicName(name), ipName(name)))
				return
			}
			prog.Warn(fmt.Sprintf("could not delete network interface %s (`mngr gc` will retry): %v", nicName(name), err))
			return
		}
	}
	if c.cfg.PublicIP() {
		if err := c.deleteIP(ctx, ipName(name)); err != nil {
			prog.Warn(fmt.Sprintf("could not delete public IP %s (`mngr gc` will retry): %v", ipName(name), err))
		}
	}
}

func (c *Client) deleteNIC(ctx context.Context, name string) error {
	p, err := c.nics.BeginDelete(ctx, c.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, c.poll())
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

func (c *Client) deleteIP(ctx context.Context, name string) error {
	p, err := c.ips.BeginDelete(ctx, c.cfg.ResourceGroup, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, c.poll())
	}
	if isNotFound(err) {
		return nil
	}
	return err
}

// assignSelfDeallocate grants the VM's identity the self-deallocate role on
// itself, best effort. A system-assigned identity is new when the VM is:
// Azure answers PrincipalNotFound until the directory has replicated it
// ("…this error might be related to a replication delay", the error's own
// text; Azure/jenkins#33 hit it with VM identities), so that answer is
// retried, a bounded number of times, before self-deallocate is disabled.
func (c *Client) assignSelfDeallocate(ctx context.Context, vm armcompute.VirtualMachine) {
	prog := core.ProgressFrom(ctx)
	if vm.Identity == nil || vm.Identity.PrincipalID == nil || vm.ID == nil {
		prog.Warn("the VM has no managed identity; idle self-deallocate is disabled (mngr stop still deallocates)")
		return
	}
	done := prog.Step("granting the self-deallocate role")
	roleID, err := c.selfDeallocRoleID(ctx)
	for attempt := 0; err == nil; attempt++ {
		_, err = c.roles.Create(ctx, *vm.ID, deterministicGUID(*vm.ID, *vm.Identity.PrincipalID, roleName),
			armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
				PrincipalID:      vm.Identity.PrincipalID,
				RoleDefinitionID: to.Ptr(roleID),
				PrincipalType:    to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
			}}, nil)
		if errorCode(err) != "PrincipalNotFound" || attempt >= len(c.assignPauses) {
			break
		}
		if serr := core.Sleep(ctx, c.assignPauses[attempt]); serr != nil {
			err = fmt.Errorf("wait for the identity of VM %s: %w", deref(vm.Name), serr)
			break
		}
		err = nil // try again
	}
	if err != nil && errorCode(err) != "RoleAssignmentExists" {
		done(nil)
		reason := errorCode(err)
		if reason == "" {
			reason = err.Error()
		}
		prog.Warn(fmt.Sprintf("could not assign role %s to VM %s (%s); idle self-deallocate is disabled, only `mngr stop` halts billing", roleName, deref(vm.Name), reason))
		tp, terr := c.tags.BeginUpdateAtScope(ctx, *vm.ID, armresources.TagsPatchResource{
			Operation:  to.Ptr(armresources.TagsPatchOperationMerge),
			Properties: &armresources.Tags{Tags: map[string]*string{tagSelfDealloc: to.Ptr("disabled")}},
		}, nil)
		if terr == nil {
			_, terr = tp.PollUntilDone(ctx, c.poll())
		}
		if terr != nil {
			prog.Warn(fmt.Sprintf("could not tag VM %s %s=disabled: %v", deref(vm.Name), tagSelfDealloc, terr))
		}
		return
	}
	done(nil)
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

// publicIPsByHost maps host ids to public addresses from ONE list of the group's IPs.
func (c *Client) publicIPsByHost(ctx context.Context) (map[string]string, error) {
	ips := map[string]string{}
	p := c.ips.NewListPager(c.cfg.ResourceGroup, nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "list public ips in "+c.cfg.ResourceGroup, c.cfg.DefaultRegion, "")
		}
		for _, ip := range page.Value {
			if ip == nil || ip.Properties == nil || ip.Properties.IPAddress == nil {
				continue
			}
			if h := tagValue(ip.Tags, tagHostID); h != "" {
				ips[h] = *ip.Properties.IPAddress
			}
		}
	}
	return ips, nil
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

func resourceName(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func tagValue(tags map[string]*string, k string) string {
	return deref(tags[k])
}
