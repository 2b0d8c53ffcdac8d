package azure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"

	"github.com/mngr-azure/mngr/internal/core"
)

// identityName is the user-assigned managed identity prepare makes in the
// resource group. Every VM mngr creates there is given it; it holds the
// self-deallocate role on the group, so a create needs no role assignment
// (only the identity's assign action).
const identityName = "mngr-vm-identity"

// identityResourceID is the shared identity's resource id: what a VM
// names in identity.userAssignedIdentities and its self-stop script in
// msi_res_id. It needs no ARM call.
func (c *Client) identityResourceID() string {
	return c.rgScope() + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + identityName
}

// identityRoleAssignmentName is the GUID of the identity's self-deallocate
// assignment on the resource group, the same on every prepare.
func identityRoleAssignmentName(rgScope, principalID string) string {
	return deterministicGUID(rgScope, principalID, roleName)
}

// defaultAssignPauses wait about a minute in all for a new identity to
// reach the directory replica ARM checks role assignments against.
var defaultAssignPauses = []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second}

// ensureIdentity returns the shared identity, creating it (tagged
// managed-by=mngr) when the resource group has none.
func (c *Client) ensureIdentity(ctx context.Context) (armmsi.Identity, Resource, error) {
	rg := c.cfg.ResourceGroup
	got, err := c.identities.Get(ctx, rg, identityName, nil)
	created := false
	if isNotFound(err) {
		var cr armmsi.UserAssignedIdentitiesClientCreateOrUpdateResponse
		cr, err = c.identities.CreateOrUpdate(ctx, rg, identityName, armmsi.Identity{Location: to.Ptr(c.cfg.DefaultRegion), Tags: managedTags(c.providerName)}, nil)
		got.Identity, created = cr.Identity, true
	}
	if err == nil && (got.Properties == nil || got.Properties.PrincipalID == nil) {
		err = fmt.Errorf("identity %s has no principal id: %w", identityName, core.ErrUnavailable)
	}
	if err != nil {
		return armmsi.Identity{}, Resource{}, classify(err, "ensure managed identity "+identityName, c.cfg.DefaultRegion, "")
	}
	return got.Identity, Resource{Kind: "managed-identity", Name: identityName, ID: deref(got.ID), Created: created}, nil
}

// assignIdentityRole grants the shared identity the self-deallocate role on
// the resource group. A new identity may not have reached the directory
// replica ARM checks yet: Azure answers PrincipalNotFound ("…this error
// might be related to a replication delay", the error's own text;
// Azure/jenkins#33 hit it with VM identities), so that answer is retried,
// a bounded number of times.
func (c *Client) assignIdentityRole(ctx context.Context, principalID string) (Resource, error) {
	rgScope := c.rgScope()
	roleID, err := c.selfDeallocRoleID(ctx)
	if err != nil {
		return Resource{}, err
	}
	name := identityRoleAssignmentName(rgScope, principalID)
	res := Resource{Kind: "role-assignment", Name: roleName + " for " + identityName, ID: rgScope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Created: true}
	if _, err := c.roles.Get(ctx, rgScope, name, nil); err == nil {
		res.Created = false
		return res, nil
	} else if !isNotFound(err) {
		return Resource{}, classify(err, "get the role assignment of "+identityName, c.cfg.DefaultRegion, "")
	}
	for attempt := 0; ; attempt++ {
		_, err = c.roles.Create(ctx, rgScope, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID:      to.Ptr(principalID),
			RoleDefinitionID: to.Ptr(roleID),
			PrincipalType:    to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		}}, nil)
		if errorCode(err) == "RoleAssignmentExists" {
			err, res.Created = nil, false
		}
		if errorCode(err) != "PrincipalNotFound" || attempt >= len(c.assignPauses) {
			break
		}
		if serr := core.Sleep(ctx, c.assignPauses[attempt]); serr != nil {
			return Resource{}, fmt.Errorf("wait for managed identity %s to replicate: %w", identityName, serr)
		}
	}
	if err != nil {
		return Resource{}, classify(err, "assign role "+roleName+" to managed identity "+identityName, c.cfg.DefaultRegion, "")
	}
	return res, nil
}

// prepareIdentity is prepare's identity step: the shared identity and its
// self-deallocate assignment. roleOK says the role step succeeded. A
// refusal (no right to create identities or assign roles) is a warning:
// VMs then run without idle self-deallocate.
func (c *Client) prepareIdentity(ctx context.Context, res *PrepareResult, roleOK bool) error {
	prog := core.ProgressFrom(ctx)
	warn := func(what string, err error) {
		w := fmt.Sprintf("could not %s (%s); new VMs get no identity and idle self-deallocate is disabled, `mngr stop` still deallocates", what, roleErrorReason(err))
		prog.Warn(w)
		res.Warnings = append(res.Warnings, w)
	}
	done := prog.Step("preparing managed identity " + identityName)
	id, r, err := c.ensureIdentity(ctx)
	done(err)
	if err != nil {
		if !errors.Is(err, core.ErrUnauthorized) {
			return err
		}
		warn("create managed identity "+identityName, err)
		return nil
	}
	res.Resources = append(res.Resources, r)
	if !roleOK {
		return nil
	}
	done = prog.Step("assigning " + roleName + " to " + identityName + " on the resource group")
	r, err = c.assignIdentityRole(ctx, deref(id.Properties.PrincipalID))
	done(err)
	if err != nil {
		if !errors.Is(err, core.ErrUnauthorized) && errorCode(err) != "PrincipalNotFound" {
			return err
		}
		warn("assign role "+roleName+" to "+identityName, err)
		return nil
	}
	res.Resources = append(res.Resources, r)
	return nil
}

// vmIdentity returns the resource id of the identity a new VM is given,
// or "" (with a warning) when the resource group has none: it was
// prepared by an older mngr, or prepare could not create it. Found once
// per process.
func (c *Client) vmIdentity(ctx context.Context) string {
	c.identityMu.Lock()
	defer c.identityMu.Unlock()
	if c.identityID != "" {
		return c.identityID
	}
	got, err := c.identities.Get(ctx, c.cfg.ResourceGroup, identityName, nil)
	if err != nil {
		reason := "it does not exist; run `mngr azure prepare --provider " + c.providerName + "` once with an identity that may create it"
		if !isNotFound(err) {
			reason = roleErrorReason(classify(err, "get managed identity "+identityName, c.cfg.DefaultRegion, ""))
		}
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("the VM gets no managed identity, so idle self-deallocate is disabled (`mngr stop` still deallocates): managed identity %s: %s", identityName, reason))
		return ""
	}
	c.identityID = deref(got.ID)
	if c.identityID == "" {
		c.identityID = c.identityResourceID()
	}
	return c.identityID
}

// disableSelfDealloc tags a VM created without the identity
// mngr-self-deallocate=disabled, so list and status can say why it never
// deallocates itself.
func (c *Client) disableSelfDealloc(ctx context.Context, vm armcompute.VirtualMachine) {
	if vm.ID == nil {
		return
	}
	disabled := armresources.TagsPatchResource{
		Operation:  to.Ptr(armresources.TagsPatchOperationMerge),
		Properties: &armresources.Tags{Tags: map[string]*string{tagSelfDealloc: to.Ptr("disabled")}},
	}
	if _, err := awaitLRO(ctx, c, "", func() (*runtime.Poller[armresources.TagsClientUpdateAtScopeResponse], error) {
		return c.tags.BeginUpdateAtScope(ctx, *vm.ID, disabled, nil)
	}, nil); err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("could not tag VM %s %s=disabled: %v", deref(vm.Name), tagSelfDealloc, err))
	}
}

// removeIdentity is cleanup's identity step: the identity's role
// assignment on the group, then the identity. Both may be gone already.
func (c *Client) removeIdentity(ctx context.Context) error {
	rg := c.cfg.ResourceGroup
	got, err := c.identities.Get(ctx, rg, identityName, nil)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err, "get managed identity "+identityName, c.cfg.DefaultRegion, "")
	}
	done := core.ProgressFrom(ctx).Step("removing managed identity " + identityName + " and its role assignment")
	if got.Properties != nil && got.Properties.PrincipalID != nil {
		_, err = c.roles.Delete(ctx, c.rgScope(), identityRoleAssignmentName(c.rgScope(), *got.Properties.PrincipalID), nil)
		if isNotFound(err) {
			err = nil
		}
		if err != nil {
			err = classify(err, "delete the role assignment of "+identityName, c.cfg.DefaultRegion, "")
			done(err)
			return err
		}
	}
	_, err = c.identities.Delete(ctx, rg, identityName, nil)
	if isNotFound(err) {
		err = nil
	}
	err = classify(err, "delete managed identity "+identityName, c.cfg.DefaultRegion, "")
	done(err)
	return err
}
