package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"

	"github.com/mngr-azure/mngr/internal/core"
)

type providersAPI interface {
	Get(ctx context.Context, ns string, o *armresources.ProvidersClientGetOptions) (armresources.ProvidersClientGetResponse, error)
	Register(ctx context.Context, ns string, o *armresources.ProvidersClientRegisterOptions) (armresources.ProvidersClientRegisterResponse, error)
}

type groupsAPI interface {
	Get(ctx context.Context, rg string, o *armresources.ResourceGroupsClientGetOptions) (armresources.ResourceGroupsClientGetResponse, error)
	CreateOrUpdate(ctx context.Context, rg string, p armresources.ResourceGroup, o *armresources.ResourceGroupsClientCreateOrUpdateOptions) (armresources.ResourceGroupsClientCreateOrUpdateResponse, error)
	BeginDelete(ctx context.Context, rg string, o *armresources.ResourceGroupsClientBeginDeleteOptions) (*runtime.Poller[armresources.ResourceGroupsClientDeleteResponse], error)
}

type nsgAPI interface {
	Get(ctx context.Context, rg, name string, o *armnetwork.SecurityGroupsClientGetOptions) (armnetwork.SecurityGroupsClientGetResponse, error)
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armnetwork.SecurityGroup, o *armnetwork.SecurityGroupsClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.SecurityGroupsClientCreateOrUpdateResponse], error)
}

type vnetAPI interface {
	Get(ctx context.Context, rg, name string, o *armnetwork.VirtualNetworksClientGetOptions) (armnetwork.VirtualNetworksClientGetResponse, error)
	BeginCreateOrUpdate(ctx context.Context, rg, name string, p armnetwork.VirtualNetwork, o *armnetwork.VirtualNetworksClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.VirtualNetworksClientCreateOrUpdateResponse], error)
}

type subnetWriteAPI interface {
	subnetAPI
	BeginCreateOrUpdate(ctx context.Context, rg, vnet, name string, p armnetwork.Subnet, o *armnetwork.SubnetsClientBeginCreateOrUpdateOptions) (*runtime.Poller[armnetwork.SubnetsClientCreateOrUpdateResponse], error)
}

type roleDefAPI interface {
	Get(ctx context.Context, scope, id string, o *armauthorization.RoleDefinitionsClientGetOptions) (armauthorization.RoleDefinitionsClientGetResponse, error)
	CreateOrUpdate(ctx context.Context, scope, id string, p armauthorization.RoleDefinition, o *armauthorization.RoleDefinitionsClientCreateOrUpdateOptions) (armauthorization.RoleDefinitionsClientCreateOrUpdateResponse, error)
	Delete(ctx context.Context, scope, id string, o *armauthorization.RoleDefinitionsClientDeleteOptions) (armauthorization.RoleDefinitionsClientDeleteResponse, error)
	NewListPager(scope string, o *armauthorization.RoleDefinitionsClientListOptions) *runtime.Pager[armauthorization.RoleDefinitionsClientListResponse]
}

var (
	_ providersAPI   = (*armresources.ProvidersClient)(nil)
	_ groupsAPI      = (*armresources.ResourceGroupsClient)(nil)
	_ nsgAPI         = (*armnetwork.SecurityGroupsClient)(nil)
	_ vnetAPI        = (*armnetwork.VirtualNetworksClient)(nil)
	_ subnetWriteAPI = (*armnetwork.SubnetsClient)(nil)
	_ roleDefAPI     = (*armauthorization.RoleDefinitionsClient)(nil)
)

// infraClients are the ARM clients prepare and cleanup need.
type infraClients struct {
	providers providersAPI
	groups    groupsAPI
	nsgs      nsgAPI
	vnets     vnetAPI
	subnets   subnetWriteAPI
	roleDefs  roleDefAPI
}

// resourceNamespaces are the resource providers prepare registers: those of
// the resources mngr makes (VMs and their disks, network, the VMs' managed
// identity). Microsoft.Storage is not one of them: managed disks belong to
// Microsoft.Compute, and mngr makes no storage account.
var resourceNamespaces = []string{"Microsoft.Compute", "Microsoft.Network", "Microsoft.ManagedIdentity"}

// Resource is one resource prepare ensured.
type Resource struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	ID      string `json:"id"`
	Created bool   `json:"created"`
	// Updated says an existing resource was changed to match the config
	// (the NSG's SSH rules after allowed_ssh_cidrs changed).
	Updated bool `json:"updated,omitempty"`
}

// PrepareResult is what prepare did.
type PrepareResult struct {
	Provider      string     `json:"provider"`
	Subscription  string     `json:"subscription_id"`
	Region        string     `json:"region"`
	ResourceGroup string     `json:"resource_group"`
	Resources     []Resource `json:"resources"`
	Warnings      []string   `json:"warnings"`
}

// PrepareOptions bound prepare's waits and say how far it may change an
// existing NSG.
type PrepareOptions struct {
	// RegistrationTimeout bounds the wait for each resource provider's
	// registration (default defaultRegistrationTimeout).
	RegistrationTimeout time.Duration
	// CIDRSource is where the config's allowed_ssh_cidrs came from.
	CIDRSource CIDRSource
	// ConfirmWiden asks the user (on a terminal) whether mngr's rules of
	// an existing NSG may allow more sources than they do (from) now (to);
	// nil refuses a widening that --allowed-ssh-cidr did not ask for.
	ConfirmWiden func(from, to []string) bool
}

// defaultRegistrationTimeout bounds the wait for one resource provider's
// registration. On a fresh subscription Microsoft.Network alone can take
// well over 3 minutes to register.
const defaultRegistrationTimeout = 15 * time.Minute

// registrationReportEvery is how often a registration still in progress is
// reported (besides every change of its state).
const registrationReportEvery = time.Minute

// managedTags are the tags of shared infrastructure.
func managedTags(provider string) map[string]*string {
	return map[string]*string{tagManagedBy: to.Ptr(tagManagedByMngr), tagProvider: to.Ptr(provider)}
}

// nsgSpec renders the NSG: one inbound allow rule per port (22 and the
// container port) from the allowed CIDRs; none when the list is empty.
func nsgSpec(region string, cidrs []string, containerPort int, tags map[string]*string) armnetwork.SecurityGroup {
	rules := []*armnetwork.SecurityRule{}
	if len(cidrs) > 0 {
		for i, port := range []string{"22", fmt.Sprint(containerPort)} {
			name := "mngr-allow-ssh"
			if i == 1 {
				name = "mngr-allow-container-ssh"
			}
			props := &armnetwork.SecurityRulePropertiesFormat{
				Protocol:                 to.Ptr(armnetwork.SecurityRuleProtocolTCP),
				Access:                   to.Ptr(armnetwork.SecurityRuleAccessAllow),
				Direction:                to.Ptr(armnetwork.SecurityRuleDirectionInbound),
				Priority:                 to.Ptr(int32(1000 + 10*i)),
				SourcePortRange:          to.Ptr("*"),
				DestinationAddressPrefix: to.Ptr("*"),
				DestinationPortRange:     to.Ptr(port),
			}
			if len(cidrs) == 1 {
				props.SourceAddressPrefix = to.Ptr(cidrs[0]) //nolint:gosec // G602: len(cidrs) == 1 is checked on the line above.
			} else {
				props.SourceAddressPrefixes = to.SliceOfPtrs(cidrs...)
			}
			rules = append(rules, &armnetwork.SecurityRule{Name: to.Ptr(name), Properties: props})
		}
	}
	return armnetwork.SecurityGroup{Location: to.Ptr(region), Tags: tags,
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: rules}}
}

// mngrRuleNames are the NSG rules nsgSpec writes; prepare owns these and
// leaves every other rule of the NSG alone.
var mngrRuleNames = map[string]bool{"mngr-allow-ssh": true, "mngr-allow-container-ssh": true}

// mergeNSGRules returns have with its mngr rules replaced by want's (other
// rules kept in place), and whether they differed in anything that decides
// who may connect: sources, port, access, direction, protocol or priority.
func mergeNSGRules(have, want armnetwork.SecurityGroup) (armnetwork.SecurityGroup, bool) {
	key := func(r *armnetwork.SecurityRule) string {
		if r == nil || r.Properties == nil {
			return ""
		}
		p := r.Properties
		src := []string{}
		if p.SourceAddressPrefix != nil {
			src = append(src, *p.SourceAddressPrefix)
		}
		for _, s := range p.SourceAddressPrefixes {
			if s != nil {
				src = append(src, *s)
			}
		}
		sort.Strings(src)
		return fmt.Sprintf("%s|%v|%s|%v|%v/%v|%d", deref(r.Name), src, deref(p.DestinationPortRange),
			deref(p.Access), deref(p.Direction), deref(p.Protocol), deref(p.Priority))
	}
	rulesOf := func(g armnetwork.SecurityGroup) []*armnetwork.SecurityRule {
		if g.Properties == nil {
			return nil
		}
		return g.Properties.SecurityRules
	}
	var haveMngr, wantMngr []string
	var kept []*armnetwork.SecurityRule
	for _, r := range rulesOf(have) {
		if r != nil && mngrRuleNames[deref(r.Name)] {
			haveMngr = append(haveMngr, key(r))
			continue
		}
		kept = append(kept, writableRule(r))
	}
	for _, r := range rulesOf(want) {
		wantMngr = append(wantMngr, key(r))
	}
	sort.Strings(haveMngr)
	sort.Strings(wantMngr)
	if slices.Equal(haveMngr, wantMngr) {
		return have, false
	}
	merged := armnetwork.SecurityGroup{Location: have.Location, Tags: have.Tags,
		Properties: &armnetwork.SecurityGroupPropertiesFormat{SecurityRules: append(kept, rulesOf(want)...)}}
	if merged.Location == nil {
		merged.Location = want.Location
	}
	return merged, true
}

// writableRule copies a rule as read back from ARM without the members the
// network API reports read-only (etag, provisioningState): a PUT carrying
// them does not conform to the NSG's OpenAPI schema.
func writableRule(r *armnetwork.SecurityRule) *armnetwork.SecurityRule {
	if r == nil {
		return nil
	}
	cp := *r
	cp.Etag = nil
	if r.Properties != nil {
		p := *r.Properties
		p.ProvisioningState = nil
		cp.Properties = &p
	}
	return &cp
}

// describeCIDRs names the allowed sources for a message.
func describeCIDRs(cidrs []string) string {
	if len(cidrs) == 0 {
		return "no source (no SSH allow rule)"
	}
	return strings.Join(cidrs, ", ")
}

// vnetSpec renders the vnet with its subnet bound to the NSG.
func vnetSpec(cfg Config, region, nsgID string, tags map[string]*string) armnetwork.VirtualNetwork {
	return armnetwork.VirtualNetwork{Location: to.Ptr(region), Tags: tags,
		Properties: &armnetwork.VirtualNetworkPropertiesFormat{
			AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: to.SliceOfPtrs(cfg.VnetAddressPrefix)},
			Subnets:      []*armnetwork.Subnet{ptrSubnet(subnetSpec(cfg, nsgID))},
		}}
}

func ptrSubnet(s armnetwork.Subnet) *armnetwork.Subnet { return &s }

// subnetSpec renders the subnet bound to the NSG.
func subnetSpec(cfg Config, nsgID string) armnetwork.Subnet {
	return armnetwork.Subnet{Name: to.Ptr(cfg.SubnetName), Properties: &armnetwork.SubnetPropertiesFormat{
		AddressPrefix:        to.Ptr(cfg.SubnetAddressPrefix),
		NetworkSecurityGroup: &armnetwork.SecurityGroup{ID: to.Ptr(nsgID)},
	}}
}

// roleSpec renders the self-deallocate custom role assignable in the given
// resource groups (customRole.spec).
func roleSpec(rgScopes ...string) armauthorization.RoleDefinition {
	return selfDeallocRole.spec(rgScopes...)
}

// cidrWarnings returns the warnings prepare prints for the NSG's source ranges.
func cidrWarnings(cidrs []string) []string {
	if len(cidrs) == 0 {
		return []string{"allowed_ssh_cidrs is empty: the NSG has no SSH allow rule, so VMs are unreachable from outside the vnet"}
	}
	for _, c := range cidrs {
		if c == "0.0.0.0/0" {
			return []string{"the NSG allows SSH (tcp/22 and the container port) from 0.0.0.0/0; login is key-only, but tighten it with --allowed-ssh-cidr or allowed_ssh_cidrs"}
		}
	}
	return nil
}

// Prepare creates (idempotently) the shared infrastructure: resource
// providers, the resource group, NSG, vnet + subnet, the self-deallocate
// role, the VMs' managed identity holding that role on the group, and the
// operator role of daily commands. It is the one privileged step: the
// role writes and the role assignment need Owner or User Access
// Administrator; nothing else mngr does assigns a role.
func (c *Client) Prepare(ctx context.Context, opts PrepareOptions) (PrepareResult, error) {
	cfg, in, prog := c.cfg, c.infra, core.ProgressFrom(ctx)
	region, rg := cfg.DefaultRegion, cfg.ResourceGroup
	res := PrepareResult{Provider: c.providerName, Subscription: c.subscription, Region: region, ResourceGroup: rg, Resources: []Resource{}, Warnings: []string{}}
	timeout := opts.RegistrationTimeout
	if timeout == 0 {
		timeout = defaultRegistrationTimeout
	}
	for _, ns := range resourceNamespaces {
		r, err := c.registerProvider(ctx, ns, timeout)
		if err != nil {
			return res, err
		}
		res.Resources = append(res.Resources, r)
	}
	tags := managedTags(c.providerName)

	done := prog.Step("preparing resource group " + rg)
	g, err := in.groups.Get(ctx, rg, nil)
	created := false
	if isNotFound(err) {
		var cr armresources.ResourceGroupsClientCreateOrUpdateResponse
		cr, err = in.groups.CreateOrUpdate(ctx, rg, armresources.ResourceGroup{Location: to.Ptr(region), Tags: tags}, nil)
		g.ResourceGroup, created = cr.ResourceGroup, true
	}
	err = classify(err, "ensure resource group "+rg, region, "")
	done(err)
	if err != nil {
		return res, err
	}
	if !created && tagValue(g.Tags, tagManagedBy) != tagManagedByMngr {
		w := fmt.Sprintf("resource group %s exists without tag managed-by=mngr; `mngr azure cleanup` will refuse to delete it", rg)
		prog.Warn(w)
		res.Warnings = append(res.Warnings, w)
	}
	res.Resources = append(res.Resources, Resource{Kind: "resource-group", Name: rg, ID: deref(g.ID), Created: created})

	done = prog.Step("preparing network security group " + cfg.NSGName)
	wantNSG := nsgSpec(region, cfg.CIDRs(), cfg.ContainerSSHPort, tags)
	putNSG := func(g armnetwork.SecurityGroup) func() (*runtime.Poller[armnetwork.SecurityGroupsClientCreateOrUpdateResponse], error) {
		return func() (*runtime.Poller[armnetwork.SecurityGroupsClientCreateOrUpdateResponse], error) {
			return in.nsgs.BeginCreateOrUpdate(ctx, rg, cfg.NSGName, g, nil)
		}
	}
	nsgOf := func(r armnetwork.SecurityGroupsClientCreateOrUpdateResponse) armnetwork.SecurityGroup {
		return r.SecurityGroup
	}
	nsg, created, err := ensureLRO(ctx, c,
		func() (armnetwork.SecurityGroup, error) {
			r, err := in.nsgs.Get(ctx, rg, cfg.NSGName, nil)
			return r.SecurityGroup, err
		}, putNSG(wantNSG), nsgOf)
	updated, kept, sources := false, false, cfg.CIDRs()
	if err == nil && !created {
		// An existing NSG keeps the user's own rules; mngr's two rules
		// follow the container port, and their sources narrow as
		// allowed_ssh_cidrs narrows, but widen only when told (sshSources).
		have, hasRules := mngrRuleSources(nsg)
		var serr error
		sources, kept, serr = sshSources(cfg.NSGName, have, hasRules, sources, opts.CIDRSource, opts.ConfirmWiden)
		if serr != nil {
			done(serr)
			return res, serr
		}
		if merged, drift := mergeNSGRules(nsg, nsgSpec(region, sources, cfg.ContainerSSHPort, tags)); drift {
			nsg, err = runLRO(ctx, c, putNSG(merged), nsgOf)
			updated = err == nil
		}
	}
	err = classify(err, "ensure nsg "+cfg.NSGName, region, "")
	done(err)
	if err != nil {
		return res, err
	}
	for _, w := range cidrWarnings(sources) {
		prog.Warn(w)
		res.Warnings = append(res.Warnings, w)
	}
	if kept {
		core.Note(ctx, fmt.Sprintf("network security group %s exists: its SSH rules still allow %s (pass --allowed-ssh-cidr to change them)", cfg.NSGName, describeCIDRs(sources)))
	}
	res.Resources = append(res.Resources, Resource{Kind: "network-security-group", Name: cfg.NSGName, ID: deref(nsg.ID), Created: created, Updated: updated})
	if updated {
		core.Note(ctx, fmt.Sprintf("network security group %s: mngr's SSH rules changed to allow %s", cfg.NSGName, describeCIDRs(sources)))
	}

	done = prog.Step("preparing virtual network " + cfg.VnetName)
	vn, created, err := ensureLRO(ctx, c,
		func() (armnetwork.VirtualNetwork, error) {
			r, err := in.vnets.Get(ctx, rg, cfg.VnetName, nil)
			return r.VirtualNetwork, err
		},
		func() (*runtime.Poller[armnetwork.VirtualNetworksClientCreateOrUpdateResponse], error) {
			return in.vnets.BeginCreateOrUpdate(ctx, rg, cfg.VnetName, vnetSpec(cfg, region, deref(nsg.ID), tags), nil)
		},
		func(r armnetwork.VirtualNetworksClientCreateOrUpdateResponse) armnetwork.VirtualNetwork {
			return r.VirtualNetwork
		})
	err = classify(err, "ensure vnet "+cfg.VnetName, region, "")
	done(err)
	if err != nil {
		return res, err
	}
	res.Resources = append(res.Resources, Resource{Kind: "virtual-network", Name: cfg.VnetName, ID: deref(vn.ID), Created: created})
	// A new vnet is made with its subnet (vnetSpec), so the subnet found
	// next was created now too, not found existing.
	vnetCreated := created

	done = prog.Step("preparing subnet " + cfg.SubnetName)
	sn, created, err := ensureLRO(ctx, c,
		func() (armnetwork.Subnet, error) {
			r, err := in.subnets.Get(ctx, rg, cfg.VnetName, cfg.SubnetName, nil)
			return r.Subnet, err
		},
		func() (*runtime.Poller[armnetwork.SubnetsClientCreateOrUpdateResponse], error) {
			return in.subnets.BeginCreateOrUpdate(ctx, rg, cfg.VnetName, cfg.SubnetName, subnetSpec(cfg, deref(nsg.ID)), nil)
		},
		func(r armnetwork.SubnetsClientCreateOrUpdateResponse) armnetwork.Subnet { return r.Subnet })
	err = classify(err, "ensure subnet "+cfg.SubnetName, region, "")
	done(err)
	if err != nil {
		return res, err
	}
	res.Resources = append(res.Resources, Resource{Kind: "subnet", Name: cfg.SubnetName, ID: deref(sn.ID), Created: created || vnetCreated})

	done = prog.Step("preparing custom role " + roleName)
	r, err := c.ensureRole(ctx, deref(g.ID))
	done(err)
	roleOK := err == nil
	if err != nil {
		// No right to write the role (here or at the scopes another
		// subscription of the tenant gave it), or a same-named role this
		// identity cannot see: the rest of prepare stands.
		if !errors.Is(err, core.ErrUnauthorized) && !errors.Is(err, core.ErrConflict) {
			return res, err
		}
		w := fmt.Sprintf("could not create or extend custom role %s (%s); idle self-deallocate is disabled, `mngr stop` still deallocates", roleName, roleErrorReason(err))
		prog.Warn(w)
		res.Warnings = append(res.Warnings, w)
	} else {
		res.Resources = append(res.Resources, r)
	}
	if err := c.prepareIdentity(ctx, &res, roleOK); err != nil {
		return res, err
	}

	done = prog.Step("preparing custom role " + operatorRoleName)
	r, err = c.ensureCustomRole(ctx, operatorRole, deref(g.ID))
	done(err)
	if err != nil {
		if !errors.Is(err, core.ErrUnauthorized) && !errors.Is(err, core.ErrConflict) {
			return res, err
		}
		w := fmt.Sprintf("could not create or update custom role %s (%s); daily commands then need a broader role such as Contributor on the resource group (`mngr azure prepare --print-role` prints the role for an administrator to create)", operatorRoleName, roleErrorReason(err))
		prog.Warn(w)
		res.Warnings = append(res.Warnings, w)
	} else {
		res.Resources = append(res.Resources, r)
	}
	return res, nil
}

// registerProvider registers ns and waits, bounded, until it is Registered,
// showing the registration state as it changes and once a minute.
func (c *Client) registerProvider(ctx context.Context, ns string, timeout time.Duration) (Resource, error) {
	done := core.ProgressFrom(ctx).Step("registering " + ns)
	got, err := c.infra.providers.Get(ctx, ns, nil)
	if err != nil {
		err = classify(err, "get resource provider "+ns, c.cfg.DefaultRegion, "")
		done(err)
		return Resource{}, err
	}
	if strings.EqualFold(deref(got.RegistrationState), "Registered") {
		done(nil)
		return Resource{Kind: "resource-provider", Name: ns, ID: deref(got.ID)}, nil
	}
	if _, err := c.infra.providers.Register(ctx, ns, nil); err != nil {
		err = classify(err, "register resource provider "+ns, c.cfg.DefaultRegion, "")
		done(err)
		return Resource{}, err
	}
	start := c.now()
	deadline := start.Add(timeout)
	state, reported, lastReport := "", "", start
	for attempt := 0; attempt < 100000; attempt++ {
		got, err = c.infra.providers.Get(ctx, ns, nil)
		if err != nil {
			err = classify(err, "get resource provider "+ns, c.cfg.DefaultRegion, "")
			done(err)
			return Resource{}, err
		}
		state = deref(got.RegistrationState)
		if strings.EqualFold(state, "Registered") {
			done(nil)
			return Resource{Kind: "resource-provider", Name: ns, ID: deref(got.ID), Created: true}, nil
		}
		now := c.now()
		if state != reported || now.Sub(lastReport) >= registrationReportEvery {
			core.Note(ctx, fmt.Sprintf("%s is %s after %s (waiting up to %s)", ns, state, now.Sub(start).Round(time.Second), timeout))
			reported, lastReport = state, now
		}
		if !now.Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			done(ctx.Err())
			return Resource{}, fmt.Errorf("register resource provider %s: %w", ns, ctx.Err())
		case <-time.After(c.pollEvery):
		}
	}
	err = core.WithHint(fmt.Errorf("register resource provider %s: still %s after %s: %w", ns, state, timeout, core.ErrTimeout),
		"Azure keeps registering %s on its own (on a new subscription it can take 15 minutes or more); check it with `az provider show -n %s --query registrationState`, "+
			"and once it says Registered re-run `mngr azure prepare --provider %s`, which keeps what is already done", ns, ns, c.providerName)
	done(err)
	return Resource{}, err
}

// CleanupResult is what cleanup did.
type CleanupResult struct {
	Provider      string `json:"provider"`
	ResourceGroup string `json:"resource_group"`
	Deleted       bool   `json:"deleted"`
	Existed       bool   `json:"existed"`
}

// CleanupOptions are cleanup's choices.
type CleanupOptions struct {
	// Force deletes the baked images and their gallery too; without it,
	// cleanup refuses while a baked image exists.
	Force bool
}

// Cleanup deletes the mngr-owned resource group, refusing while mngr VMs
// or baked images exist in it.
func (c *Client) Cleanup(ctx context.Context) (CleanupResult, error) {
	return c.CleanupWith(ctx, CleanupOptions{})
}

// CleanupWith is Cleanup with options.
func (c *Client) CleanupWith(ctx context.Context, opts CleanupOptions) (CleanupResult, error) {
	rg := c.cfg.ResourceGroup
	res := CleanupResult{Provider: c.providerName, ResourceGroup: rg}
	g, err := c.infra.groups.Get(ctx, rg, nil)
	if code := errorCode(err); code == "SubscriptionNotFound" || code == "InvalidSubscriptionId" {
		return res, c.missingScope(err, "get resource group "+rg)
	}
	if isNotFound(err) {
		return res, nil // no resource group: nothing to clean up
	}
	if err != nil {
		return res, classify(err, "get resource group "+rg, c.cfg.DefaultRegion, "")
	}
	res.Existed = true
	if tagValue(g.Tags, tagManagedBy) != tagManagedByMngr {
		return res, core.WithHint(fmt.Errorf("resource group %q is not tagged managed-by=mngr; refusing to delete it: %w", rg, core.ErrConflict),
			"mngr only deletes resource groups it created; delete it yourself with `az group delete -n %s` if you are sure", rg)
	}
	// VMs with agents are named by their agents (destroy takes agents);
	// VMs without any (an interrupted create) by VM name, for gc.
	var agents, agentless []string
	pager := c.vms.NewListPager(rg, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return res, classify(err, "list vms in "+rg, c.cfg.DefaultRegion, "")
		}
		for _, vm := range page.Value {
			if vm == nil || tagValue(vm.Tags, tagManagedBy) != tagManagedByMngr {
				continue
			}
			plain := map[string]string{}
			for k, v := range vm.Tags {
				if v != nil {
					plain[k] = *v
				}
			}
			recs, _, derr := decodeAgentTags(plain)
			if derr == nil && len(recs) == 0 {
				agentless = append(agentless, deref(vm.Name))
				continue
			}
			for _, r := range recs {
				agents = append(agents, r.Name)
			}
			if derr != nil {
				agentless = append(agentless, deref(vm.Name))
			}
		}
	}
	if n := len(agents) + len(agentless); n > 0 {
		var what, steps []string
		if len(agents) > 0 {
			what = append(what, "agent(s) "+strings.Join(agents, ", "))
			steps = append(steps, "destroy the agents with `mngr destroy -f "+strings.Join(agents, " ")+"`")
		}
		if len(agentless) > 0 {
			what = append(what, "VM(s) without any agent "+strings.Join(agentless, ", "))
			steps = append(steps, "remove the VMs without agents with `mngr gc --provider "+c.providerName+"` (`mngr list` shows them)")
		}
		return res, core.WithHint(fmt.Errorf("resource group %q still holds mngr VMs: %s: %w", rg, strings.Join(what, "; "), core.ErrConflict),
			"%s, then run cleanup again", strings.Join(steps, ", and "))
	}
	baked, err := c.ListBaked(ctx)
	if err != nil {
		return res, err
	}
	if len(baked) > 0 && !opts.Force {
		names := make([]string, 0, len(baked))
		for _, b := range baked {
			names = append(names, b.Name+"/"+b.Version)
		}
		return res, core.WithHint(fmt.Errorf("resource group %q still holds baked image(s) %s: %w", rg, strings.Join(names, ", "), core.ErrConflict),
			"delete them with `mngr azure bake --provider %s --delete NAME`, or run `mngr azure cleanup --provider %s --force` to delete them with the group", c.providerName, c.providerName)
	}
	if opts.Force {
		if err := c.deleteGallery(ctx); err != nil {
			return res, err
		}
	}
	if err := c.removeIdentity(ctx); err != nil {
		// Missing rights never stop a cleanup: the group's deletion takes
		// the identity with it.
		if !errors.Is(err, core.ErrUnauthorized) {
			return res, err
		}
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("could not remove managed identity %s or its role assignment: %v", identityName, err))
	}
	_, err = awaitLRO(ctx, c, "deleting resource group "+rg, func() (*runtime.Poller[armresources.ResourceGroupsClientDeleteResponse], error) {
		return c.infra.groups.BeginDelete(ctx, rg, nil)
	}, func(err error) error {
		if re, ok := responseError(err); ok && re.StatusCode == http.StatusNoContent {
			err = nil
		}
		return classify(goneIsDone(err), "delete resource group "+rg, c.cfg.DefaultRegion, "")
	})
	if err != nil {
		return res, err
	}
	res.Deleted = true
	for _, r := range []customRole{selfDeallocRole, operatorRole} {
		if err := c.releaseCustomRole(ctx, r); err != nil {
			core.ProgressFrom(ctx).Warn(fmt.Sprintf("the resource group is gone, but the custom role %s was not updated: %v", r.name, err))
		}
	}
	return res, nil
}

// ensureLRO is prepare's idempotent step (STYLE rule 6): the resource get
// finds is kept as it is; when it is missing, begin creates it and the
// long-running operation is waited for. created says which happened.
func ensureLRO[T, R any](ctx context.Context, c *Client, get func() (T, error), begin func() (*runtime.Poller[R], error), result func(R) T) (T, bool, error) {
	v, err := get()
	if !isNotFound(err) {
		return v, false, err
	}
	v, err = runLRO(ctx, c, begin, result)
	return v, true, err
}

// runLRO starts a long-running write, waits for it (awaitLRO, no step of
// its own: prepare's step spans the get too) and returns its resource.
func runLRO[T, R any](ctx context.Context, c *Client, begin func() (*runtime.Poller[R], error), result func(R) T) (T, error) {
	r, err := awaitLRO(ctx, c, "", begin, nil)
	return result(r), err
}
