package arm

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
)

// identityType is a user-assigned managed identity: a principal of the
// directory that lives as a resource and that VMs can be given.
const identityType = "Microsoft.ManagedIdentity/userAssignedIdentities"

// identityAssignAction is what attaching an identity to a VM needs on the
// identity (Azure checks it as a linked access check on the VM write).
const identityAssignAction = identityType + "/assign/action"

func init() {
	register(&kind{typ: identityType, put: putIdentity, syncDelete: true})
}

// putIdentity creates an identity with a fresh principal (object) id and
// client (application) id in the tenant; an update changes only its tags.
func putIdentity(s *Server, q *request, id, _, name string, old *entry) (*entry, *armError) {
	var in armmsi.Identity
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if len(name) < 3 || len(name) > 128 || !identityNameOK(name) {
		return nil, invalidParam("resourceName", "The identity name '%s' is invalid: use 3-128 letters, digits, '-' and '_', starting with a letter or digit.", name)
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	if old != nil {
		var cur armmsi.Identity
		_ = json.Unmarshal(old.Model, &cur)
		cur.Tags = in.Tags
		return &entry{ID: id, Type: identityType, Model: mustJSON(cur)}, nil
	}
	iso := armmsi.IsolationScopeNone
	if in.Properties != nil && in.Properties.IsolationScope != nil {
		iso = *in.Properties.IsolationScope
	}
	out := armmsi.Identity{ID: &id, Name: &name, Type: strPtr(identityType), Location: in.Location, Tags: in.Tags,
		Properties: &armmsi.UserAssignedIdentityProperties{PrincipalID: strPtr(newID()), ClientID: strPtr(newID()),
			TenantID: strPtr(s.opts.TenantID), IsolationScope: &iso}}
	return &entry{ID: id, Type: identityType, Model: mustJSON(out)}, nil
}

func identityNameOK(name string) bool {
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_'))
		if !ok {
			return false
		}
	}
	return true
}

// userIdentityLocked returns the identity a VM names by resource id (under s.mu).
func (s *Server) userIdentityLocked(id string) (armmsi.Identity, bool) {
	e := s.st.get(id)
	if e == nil || !strings.EqualFold(e.Type, identityType) {
		return armmsi.Identity{}, false
	}
	var out armmsi.Identity
	if json.Unmarshal(e.Model, &out) != nil || out.Properties == nil {
		return armmsi.Identity{}, false
	}
	return out, true
}

// identityNotFound is Azure's answer to a VM that names a user-assigned
// identity that does not exist.
func identityNotFound(id string) *armError {
	return errf(http.StatusBadRequest, "FailedIdentityOperation",
		"Identity operation for resource failed with error 'Failed to perform resource identity operation. Status: 'NotFound'. Response: 'The user assigned identity '%s' was not found.''.", id)
}

// bindIdentitiesLocked gives a new VM its identities (under s.mu): a fresh
// principal for a system-assigned one, and for each user-assigned one the
// identity's own principal and client ids. Naming a user-assigned identity
// takes its assign action (a linked access check, as Azure makes it), and
// the identity must exist.
func (s *Server) bindIdentitiesLocked(q *request, in *armcompute.VirtualMachine) *armError {
	id := in.Identity
	if id == nil || id.Type == nil {
		return nil
	}
	typ := strings.ToLower(strings.ReplaceAll(string(*id.Type), " ", ""))
	system := typ == "systemassigned" || typ == "systemassigned,userassigned"
	user := typ == "userassigned" || typ == "systemassigned,userassigned"
	switch {
	case typ == "none":
		id.UserAssignedIdentities = nil
		return nil
	case !system && !user:
		return invalidParam("identity.type", "The value '%s' of parameter identity.type is invalid.", *id.Type)
	case user && len(id.UserAssignedIdentities) == 0:
		return invalidParam("identity.userAssignedIdentities", "The identity type UserAssigned requires at least one entry in userAssignedIdentities.")
	case !user && len(id.UserAssignedIdentities) > 0:
		return invalidParam("identity.userAssignedIdentities", "userAssignedIdentities can only be given with the identity type UserAssigned.")
	}
	if system {
		id.PrincipalID = strPtr(newID())
		id.TenantID = strPtr(s.opts.TenantID)
	}
	bound := map[string]*armcompute.UserAssignedIdentitiesValue{}
	for rid := range id.UserAssignedIdentities {
		if e := s.authorizeActionLocked(q, rid, identityAssignAction); e != nil {
			return e
		}
		u, ok := s.userIdentityLocked(rid)
		if !ok {
			return identityNotFound(rid)
		}
		bound[*u.ID] = &armcompute.UserAssignedIdentitiesValue{PrincipalID: u.Properties.PrincipalID, ClientID: u.Properties.ClientID}
	}
	if user {
		id.UserAssignedIdentities = bound
	}
	return nil
}
