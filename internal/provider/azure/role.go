package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/mngr-azure/mngr/internal/core"
)

// roleName is the least-privilege custom role a VM uses to deallocate itself.
const roleName = "mngr-self-deallocate"

// roleActions are the only actions of the self-deallocate role.
var roleActions = []string{"Microsoft.Compute/virtualMachines/deallocate/action", "Microsoft.Compute/virtualMachines/read"}

// customRole is one of the custom roles prepare keeps assignable in the
// resource group: the self-deallocate role of the VMs' identity and the
// operator role of the credential daily commands use.
type customRole struct {
	name, description string
	actions           []string
}

// selfDeallocRole is the role of the identity the VMs share.
var selfDeallocRole = customRole{
	name:        roleName,
	description: "Lets an mngr VM deallocate itself when its agents are idle.",
	actions:     roleActions,
}

// spec renders the role assignable in the given scopes. Role names are
// unique in a tenant (directory), so every provider instance of every
// subscription of the tenant shares the one role and adds its group to it.
func (r customRole) spec(scopes ...string) armauthorization.RoleDefinition {
	return armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName:         to.Ptr(r.name),
		Description:      to.Ptr(r.description),
		RoleType:         to.Ptr("CustomRole"),
		Permissions:      []*armauthorization.Permission{{Actions: to.SliceOfPtrs(r.actions...)}},
		AssignableScopes: to.SliceOfPtrs(scopes...),
	}}
}

// sameActions reports whether a role definition grants exactly r's actions.
func (r customRole) sameActions(rd armauthorization.RoleDefinition) bool {
	var have []string
	if rd.Properties != nil {
		for _, p := range rd.Properties.Permissions {
			if p == nil {
				continue
			}
			for _, a := range p.Actions {
				if a != nil {
					have = append(have, *a)
				}
			}
			if len(p.NotActions) > 0 || len(p.DataActions) > 0 {
				return false
			}
		}
	}
	want := slices.Clone(r.actions)
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}

// roleDefinitionGUID is the id prepare gives the role when it creates it
// in a subscription. A role another subscription of the tenant created
// keeps its own id: findRole, not this, names the role to use.
func roleDefinitionGUID(subscription, name string) string {
	if name == roleName {
		return deterministicGUID(subscription, roleName)
	}
	return deterministicGUID(subscription, "role", name)
}

// tenantRootScope is the scope of a role definition list across the whole
// directory: with the empty scope the SDK requests
// GET /providers/Microsoft.Authorization/roleDefinitions, the call Azure's
// custom-roles-rest docs give for "list all custom roles in a tenant" (and
// terraform-provider-azurerm's role_definition data source makes, #30199).
const tenantRootScope = ""

// findRole looks the self-deallocate role up by name in the whole
// directory. Custom role names are unique per tenant, not per subscription
// (azure-powershell#4365: a second subscription gets 409
// RoleDefinitionWithSameNameExists), so a role that prepare made for
// another subscription of the tenant is this one's role too. A list at a
// subscription would miss it: that shows only roles assignable there.
func (c *Client) findRole(ctx context.Context) (armauthorization.RoleDefinition, bool, error) {
	return c.findCustomRole(ctx, selfDeallocRole)
}

// findCustomRole looks role r up by name in the whole directory (findRole).
func (c *Client) findCustomRole(ctx context.Context, r customRole) (armauthorization.RoleDefinition, bool, error) {
	roleName := r.name
	filter := fmt.Sprintf("roleName eq '%s'", roleName)
	p := c.infra.roleDefs.NewListPager(tenantRootScope, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr(filter)})
	for pages := 0; p.More() && pages < 100; pages++ {
		page, err := p.NextPage(ctx)
		if err != nil {
			return armauthorization.RoleDefinition{}, false, classify(err, "find role "+roleName, c.cfg.DefaultRegion, "")
		}
		for _, rd := range page.Value {
			if rd != nil && rd.Name != nil && rd.Properties != nil && deref(rd.Properties.RoleName) == roleName {
				return *rd, true, nil
			}
		}
	}
	return armauthorization.RoleDefinition{}, false, nil
}

// ensureRole makes the self-deallocate role assignable in rgScope: it
// creates the role when the directory has none, else adds rgScope to the
// role's assignable scopes, keeping every scope already there (other
// resource groups, other subscriptions' groups). A role is written at one
// of its assignable scopes; like azure-cli's `az role definition update`,
// prepare writes at the first one.
func (c *Client) ensureRole(ctx context.Context, rgScope string) (Resource, error) {
	return c.ensureCustomRole(ctx, selfDeallocRole, rgScope)
}

// ensureCustomRole is ensureRole for role r; a role whose actions differ
// from r's (an older mngr's operator role) is rewritten with r's.
func (c *Client) ensureCustomRole(ctx context.Context, r customRole, rgScope string) (Resource, error) {
	roleName := r.name
	if rgScope == "" {
		rgScope = c.rgScope()
	}
	remember := func(guid string) {
		if r.name == selfDeallocRole.name {
			c.setRoleGUID(guid)
		}
	}
	role, found, err := c.findCustomRole(ctx, r)
	if err != nil {
		return Resource{}, err
	}
	if !found {
		cr, err := c.infra.roleDefs.CreateOrUpdate(ctx, rgScope, roleDefinitionGUID(c.subscription, r.name), r.spec(rgScope), nil)
		if err == nil {
			remember(deref(cr.Name))
			return Resource{Kind: "role-definition", Name: roleName, ID: deref(cr.ID), Created: true}, nil
		}
		if errorCode(err) != "RoleDefinitionWithSameNameExists" {
			return Resource{}, classify(err, "create role "+roleName, c.cfg.DefaultRegion, "")
		}
		// Another prepare made it meanwhile, or it exists where this
		// identity cannot list it.
		if role, found, err = c.findCustomRole(ctx, r); err != nil {
			return Resource{}, err
		}
		if !found {
			return Resource{}, core.WithHint(fmt.Errorf("create role %s: a custom role of that name exists in this directory but this identity cannot see it: %w", roleName, core.ErrConflict),
				"ask an Owner of the subscription that holds the role to add %s to its assignableScopes (`az role definition update`), then run `mngr azure prepare` again", rgScope)
		}
	}
	remember(deref(role.Name))
	res := Resource{Kind: "role-definition", Name: roleName, ID: deref(role.ID)}
	scopes := roleScopes(role)
	has := slices.ContainsFunc(scopes, func(s string) bool { return strings.EqualFold(s, rgScope) })
	if has && r.sameActions(role) {
		return res, nil
	}
	if !has {
		scopes = append(scopes, rgScope)
	}
	writeAt := scopes[0]
	if _, err := c.infra.roleDefs.CreateOrUpdate(ctx, writeAt, deref(role.Name), r.spec(scopes...), nil); err != nil {
		err = classify(err, "update role "+roleName, c.cfg.DefaultRegion, "")
		if len(scopes) > 0 && !strings.HasPrefix(strings.ToLower(scopes[0]), strings.ToLower("/subscriptions/"+c.subscription+"/")) {
			err = core.WithHint(err, "the role %s was created for subscription %s; adding this group needs permission to write roles there too (Owner or User Access Administrator on %s)", roleName, subscriptionOfScope(scopes[0]), scopes[0])
		}
		return Resource{}, err
	}
	res.Updated = true
	return res, nil
}

// releaseCustomRole takes this resource group out of the shared custom
// role r and deletes the role when no group is left in it. A missing role
// or a refused write (no permission to manage roles) changes nothing.
func (c *Client) releaseCustomRole(ctx context.Context, r customRole) error {
	roleName := r.name
	rgScope := c.rgScope()
	role, found, err := c.findCustomRole(ctx, r)
	if err != nil || !found {
		return err
	}
	var keep []string
	for _, s := range roleScopes(role) {
		if !strings.EqualFold(s, rgScope) {
			keep = append(keep, s)
		}
	}
	if len(keep) == len(roleScopes(role)) {
		return nil
	}
	done := core.ProgressFrom(ctx).Step("releasing custom role " + roleName)
	if len(keep) == 0 {
		// The role's own scope: the group it was written at may be gone.
		_, err = c.infra.roleDefs.Delete(ctx, roleHomeScope(deref(role.ID), c.subscription), deref(role.Name), nil)
	} else {
		_, err = c.infra.roleDefs.CreateOrUpdate(ctx, keep[0], deref(role.Name), r.spec(keep...), nil)
	}
	if isNotFound(err) {
		err = nil
	}
	err = classify(err, "release role "+roleName, c.cfg.DefaultRegion, "")
	done(err)
	return err
}

// roleScopes lists a role definition's assignable scopes.
func roleScopes(rd armauthorization.RoleDefinition) []string {
	var out []string
	if rd.Properties != nil {
		for _, s := range rd.Properties.AssignableScopes {
			if s != nil {
				out = append(out, *s)
			}
		}
	}
	return out
}

// roleHomeScope is the scope a role definition id names
// (/subscriptions/{id} of /subscriptions/{id}/providers/Microsoft.Authorization/roleDefinitions/{guid}),
// or this subscription when the id says none.
func roleHomeScope(id, subscription string) string {
	if i := strings.Index(strings.ToLower(id), "/providers/microsoft.authorization/"); i > 0 {
		return id[:i]
	}
	return "/subscriptions/" + subscription
}

// subscriptionOfScope returns the subscription id a scope lies in.
func subscriptionOfScope(scope string) string {
	parts := strings.Split(strings.Trim(scope, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return scope
}

// roleErrorReason names why the role step failed, for prepare's warning.
func roleErrorReason(err error) string {
	if code := errorCode(err); code != "" {
		return code
	}
	if h := core.HintOf(err); h != "" {
		return err.Error() + "; " + h
	}
	return err.Error()
}

// setRoleGUID remembers the role's id for this process's role assignments.
func (c *Client) setRoleGUID(guid string) {
	c.roleMu.Lock()
	defer c.roleMu.Unlock()
	c.roleGUID = guid
}

// selfDeallocRoleID is the role definition id a VM's role assignment names:
// the directory's self-deallocate role (found once per process), spelled
// in this subscription as Azure expects.
func (c *Client) selfDeallocRoleID(ctx context.Context) (string, error) {
	c.roleMu.Lock()
	guid := c.roleGUID
	c.roleMu.Unlock()
	if guid == "" {
		role, found, err := c.findRole(ctx)
		if err != nil {
			return "", err
		}
		if !found {
			return "", core.WithHint(fmt.Errorf("role %s: %w", roleName, core.ErrNotFound), "run: mngr azure prepare --provider %s", c.providerName)
		}
		guid = deref(role.Name)
		c.setRoleGUID(guid)
	}
	return fmt.Sprintf("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s", c.subscription, guid), nil
}
