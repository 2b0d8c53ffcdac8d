package arm

import (
	"encoding/json"
	"net/http"
	"path"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"

	"github.com/mngr-azure/mngr/internal/azsim/auth"
)

const (
	roleDefType    = "Microsoft.Authorization/roleDefinitions"
	roleAssignType = "Microsoft.Authorization/roleAssignments"
	// OwnerRoleID is the built-in Owner role definition id.
	OwnerRoleID       = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	contributorRoleID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	readerRoleID      = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	vmContributorID   = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
)

type builtinRole struct {
	id, name  string
	actions   []string
	notAction []string
}

var builtinRoles = []builtinRole{
	{OwnerRoleID, "Owner", []string{"*"}, nil},
	{contributorRoleID, "Contributor", []string{"*"}, []string{"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write"}},
	{readerRoleID, "Reader", []string{"*/read"}, nil},
	{vmContributorID, "Virtual Machine Contributor", []string{"Microsoft.Compute/virtualMachines/*", "Microsoft.Network/*/read", "Microsoft.Network/networkInterfaces/*", "Microsoft.Network/virtualNetworks/subnets/join/action", "Microsoft.Network/publicIPAddresses/join/action", "Microsoft.Resources/subscriptions/resourceGroups/read"}, nil},
}

func (s *Server) roleDefModel(scope string, b builtinRole) armauthorization.RoleDefinition {
	acts := make([]*string, 0, len(b.actions))
	for _, a := range b.actions {
		acts = append(acts, strPtr(a))
	}
	nots := []*string{}
	for _, a := range b.notAction {
		nots = append(nots, strPtr(a))
	}
	return armauthorization.RoleDefinition{
		ID: strPtr(strings.TrimSuffix(scope, "/") + "/providers/Microsoft.Authorization/roleDefinitions/" + b.id), Name: strPtr(b.id), Type: strPtr(roleDefType),
		Properties: &armauthorization.RoleDefinitionProperties{RoleName: strPtr(b.name), RoleType: strPtr("BuiltInRole"),
			Description:      strPtr(b.name + " role."),
			Permissions:      []*armauthorization.Permission{{Actions: acts, NotActions: nots, DataActions: []*string{}, NotDataActions: []*string{}}},
			AssignableScopes: []*string{strPtr("/")}},
	}
}

// actionFor names the ARM action of a request.
func actionFor(typ, method string) string {
	verb := "read"
	switch method {
	case http.MethodPut, http.MethodPatch:
		verb = "write"
	case http.MethodDelete:
		verb = "delete"
	case http.MethodPost:
		verb = "action"
	}
	if strings.EqualFold(typ, rgType) {
		typ = "Microsoft.Resources/subscriptions/resourceGroups"
	}
	return typ + "/" + verb
}

func actionMatches(pattern, action string) bool {
	ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	if ok {
		return true
	}
	// "*" in Azure actions spans segments.
	p := strings.ToLower(pattern)
	if strings.HasSuffix(p, "/*") && strings.HasPrefix(strings.ToLower(action), strings.TrimSuffix(p, "*")) {
		return true
	}
	if strings.HasPrefix(p, "*/") && strings.HasSuffix(strings.ToLower(action), strings.TrimPrefix(p, "*")) {
		return true
	}
	return p == "*"
}

// isOwner reports the service principal that owns every subscription of
// the tenant; everyone else (other service principals, managed identities)
// gets what its role assignments grant.
func (s *Server) isOwner(q *request) bool {
	return q.principal.Kind != auth.KindManagedIdentity && q.principal.ObjectID == s.opts.OwnerObjectID
}

// authorize enforces role assignments for callers other than the owner.
func (s *Server) authorize(q *request, scope, method, typ string) *armError {
	return s.authorizeAction(q, scope, actionFor(typ, method))
}

// authorizeAction checks that a caller other than the owner holds action
// at scope through a role assignment at scope or above it.
func (s *Server) authorizeAction(q *request, scope, action string) *armError {
	if s.isOwner(q) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authorizeActionLocked(q, scope, action)
}

// authorizeActionLocked is authorizeAction for a caller holding s.mu: the
// linked access checks a write makes on the resources it references.
func (s *Server) authorizeActionLocked(q *request, scope, action string) *armError {
	if s.isOwner(q) {
		return nil
	}
	for _, ra := range s.assignmentsOfLocked(q.principal.ObjectID, "") {
		if !scopeWithin(scope, *ra.Properties.Scope) {
			continue
		}
		acts, nots := s.rolePermissions(*ra.Properties.RoleDefinitionID)
		allowed := false
		for _, a := range acts {
			if actionMatches(a, action) {
				allowed = true
			}
		}
		for _, a := range nots {
			if actionMatches(a, action) {
				allowed = false
			}
		}
		if allowed {
			return nil
		}
	}
	return errf(http.StatusForbidden, "AuthorizationFailed",
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		q.principal.ObjectID, q.principal.ObjectID, action, scope)
}

// assignmentsOfLocked returns the role assignments of principalID (every
// principal's when it is "") stored under prefix ("" is the whole tenant).
func (s *Server) assignmentsOfLocked(principalID, prefix string) []armauthorization.RoleAssignment {
	var out []armauthorization.RoleAssignment
	for _, e := range s.st.ofType(prefix, roleAssignType) {
		var ra armauthorization.RoleAssignment
		if json.Unmarshal(e.Model, &ra) != nil || ra.Properties == nil || ra.Properties.PrincipalID == nil || ra.Properties.Scope == nil || ra.Properties.RoleDefinitionID == nil {
			continue
		}
		if principalID == "" || *ra.Properties.PrincipalID == principalID {
			out = append(out, ra)
		}
	}
	return out
}

// scopeWithin reports whether inner is outer or lies below it ("/" holds everything).
func scopeWithin(inner, outer string) bool {
	in, out := strings.ToLower(strings.TrimSuffix(inner, "/")), strings.ToLower(strings.TrimSuffix(outer, "/"))
	return out == "" || in == out || strings.HasPrefix(in, out+"/")
}

// withinAny reports whether scope lies within one of scopes.
func withinAny(scope string, scopes []string) bool {
	for _, sc := range scopes {
		if scopeWithin(scope, sc) {
			return true
		}
	}
	return false
}

// subscriptionOf returns the subscription id a scope lies in, or "".
func subscriptionOf(scope string) string {
	segs := splitPath(scope)
	if len(segs) >= 2 && strings.EqualFold(segs[0], "subscriptions") {
		return segs[1]
	}
	return ""
}

// customRolesLocked returns the tenant's custom role definitions: they
// live in the directory, not in one subscription (under s.mu).
func (s *Server) customRolesLocked() []*entry { return s.st.ofType("", roleDefType) }

// customRoleLocked finds a custom role definition of the tenant by its GUID (under s.mu).
func (s *Server) customRoleLocked(guid string) (*entry, armauthorization.RoleDefinition) {
	for _, e := range s.customRolesLocked() {
		if strings.EqualFold(path.Base(e.ID), guid) {
			var rd armauthorization.RoleDefinition
			_ = json.Unmarshal(e.Model, &rd)
			return e, rd
		}
	}
	return nil, armauthorization.RoleDefinition{}
}

// rolePermissions resolves a role definition id to its actions (under s.mu).
func (s *Server) rolePermissions(defID string) (acts, nots []string) {
	name := path.Base(defID)
	for _, b := range builtinRoles {
		if strings.EqualFold(b.id, name) {
			return b.actions, b.notAction
		}
	}
	e, rd := s.customRoleLocked(name)
	if e == nil || rd.Properties == nil {
		return nil, nil
	}
	for _, p := range rd.Properties.Permissions {
		for _, a := range p.Actions {
			acts = append(acts, *a)
		}
		for _, a := range p.NotActions {
			nots = append(nots, *a)
		}
	}
	return acts, nots
}

func roleScopesOf(rd armauthorization.RoleDefinition) []string {
	var out []string
	if rd.Properties != nil {
		for _, sc := range rd.Properties.AssignableScopes {
			if sc != nil {
				out = append(out, *sc)
			}
		}
	}
	return out
}

// roleFilter is the part of a roleDefinitions $filter azsim understands:
// roleName eq '…', type eq 'CustomRole'|'BuiltInRole' and atScopeAndBelow().
type roleFilter struct {
	name, typ string
	below     bool
}

var (
	roleNameFilterRE = regexp.MustCompile(`(?i)roleName\s+eq\s+'([^']*)'`)
	roleTypeFilterRE = regexp.MustCompile(`(?i)type\s+eq\s+'([^']*)'`)
)

func parseRoleFilter(f string) roleFilter {
	var rf roleFilter
	if m := roleNameFilterRE.FindStringSubmatch(f); m != nil {
		rf.name = m[1]
	}
	if m := roleTypeFilterRE.FindStringSubmatch(f); m != nil {
		rf.typ = m[1]
	}
	rf.below = strings.Contains(strings.ToLower(f), "atscopeandbelow()")
	return rf
}

func (rf roleFilter) matches(name, typ string) bool {
	return (rf.name == "" || strings.EqualFold(rf.name, name)) && (rf.typ == "" || strings.EqualFold(rf.typ, typ))
}

// authorization serves {scope}/providers/Microsoft.Authorization/{roleDefinitions|roleAssignments}[/{name}].
//
// Custom roles follow Azure's directory-wide rules: a role name is unique
// in the tenant, whichever subscription the role was created in (409
// RoleDefinitionWithSameNameExists; azure-powershell#4365); a list at the
// tenant root (GET /providers/Microsoft.Authorization/roleDefinitions, the
// "list all custom roles" call of Azure's custom-roles-rest docs) shows
// every custom role, a list at a scope only those assignable there (and
// below it with atScopeAndBelow(), as the SDK's ListOptions.Filter says);
// a role is written at a scope within its assignable scopes (azure-cli
// PUTs at assignableScopes[0]) by a caller who may write roles at every
// one of them; and a custom role is assigned only within its assignable
// scopes.
func (s *Server) authorization(w http.ResponseWriter, q *request, scope string, rest []string) *armError {
	if e := checkAPIVersion("microsoft.authorization", q.api, "roleAssignments"); e != nil {
		return e
	}
	if len(rest) == 0 {
		return errf(http.StatusNotFound, "NotFound", "The requested path does not exist.")
	}
	typ := roleDefType
	switch strings.ToLower(rest[0]) {
	case "roledefinitions":
	case "roleassignments":
		typ = roleAssignType
	default:
		return errf(http.StatusBadRequest, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Authorization'.", rest[0])
	}
	if e := s.checkAuthzScope(q, scope, typ, len(rest) == 1); e != nil {
		return e
	}
	isDef := typ == roleDefType
	switch {
	case isDef && q.r.Method == http.MethodGet:
		// Every principal of the tenant may read role definitions.
	case isDef && q.r.Method == http.MethodPut && len(rest) > 1:
		return s.putRoleDefinition(w, q, scope, rest[1])
	default:
		if e := s.authorize(q, scope, q.r.Method, typ); e != nil {
			return e
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rest) == 1 {
		if q.r.Method != http.MethodGet {
			return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
		}
		if isDef {
			writeJSON(w, http.StatusOK, map[string]any{"value": s.listRoleDefinitionsLocked(scope, parseRoleFilter(q.r.URL.Query().Get("$filter")))})
			return nil
		}
		out := []json.RawMessage{}
		filter := q.r.URL.Query().Get("$filter")
		prefix := ""
		if sub := subscriptionOf(scope); sub != "" {
			prefix = "/subscriptions/" + sub
		}
		for _, e := range s.st.ofType(prefix, roleAssignType) {
			var ra armauthorization.RoleAssignment
			_ = json.Unmarshal(e.Model, &ra)
			if strings.Contains(filter, "principalId eq '") && !strings.Contains(filter, "'"+*ra.Properties.PrincipalID+"'") {
				continue
			}
			out = append(out, e.Model)
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	name := rest[1]
	if isDef {
		return s.roleDefinitionLocked(w, q, scope, name)
	}
	id := scope + "/providers/" + typ + "/" + name
	old := s.st.get(id)
	switch q.r.Method {
	case http.MethodGet:
		if old == nil {
			return errf(http.StatusNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
		}
		writeJSON(w, http.StatusOK, old.Model)
		return nil
	case http.MethodDelete:
		if old == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		s.st.del(id)
		_ = s.saveLocked()
		writeJSON(w, http.StatusOK, old.Model)
		return nil
	case http.MethodPut:
	default:
		return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
	}
	if !uuidRE.MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", name)
	}
	var in armauthorization.RoleAssignmentCreateParameters
	if e := decodeStrict(q.body, &in); e != nil {
		return e
	}
	if in.Properties == nil || in.Properties.PrincipalID == nil || in.Properties.RoleDefinitionID == nil {
		return errf(http.StatusBadRequest, "InvalidRoleAssignmentRequest", "principalId and roleDefinitionId are required.")
	}
	if e := s.checkAssignableLocked(scope, *in.Properties.RoleDefinitionID); e != nil {
		return e
	}
	for _, e := range s.st.ofType("/subscriptions/"+subscriptionOf(scope), roleAssignType) {
		var ra armauthorization.RoleAssignment
		_ = json.Unmarshal(e.Model, &ra)
		p := ra.Properties
		if strings.EqualFold(*p.Scope, scope) && *p.PrincipalID == *in.Properties.PrincipalID && strings.EqualFold(path.Base(*p.RoleDefinitionID), path.Base(*in.Properties.RoleDefinitionID)) {
			if strings.EqualFold(e.ID, id) {
				writeJSON(w, http.StatusCreated, e.Model)
				return nil
			}
			return errf(http.StatusConflict, "RoleAssignmentExists", "The role assignment already exists.")
		}
	}
	now := s.nowLocked()
	pt := armauthorization.PrincipalTypeServicePrincipal
	if in.Properties.PrincipalType != nil {
		pt = *in.Properties.PrincipalType
	}
	model := mustJSON(armauthorization.RoleAssignment{ID: &id, Name: &name, Type: strPtr(roleAssignType),
		Properties: &armauthorization.RoleAssignmentProperties{PrincipalID: in.Properties.PrincipalID, RoleDefinitionID: in.Properties.RoleDefinitionID,
			Scope: &scope, PrincipalType: &pt, Description: in.Properties.Description, CreatedOn: &now, UpdatedOn: &now}})
	s.st.put(&entry{ID: id, Type: typ, Model: model, Created: now})
	_ = s.saveLocked()
	writeJSON(w, http.StatusCreated, model)
	return nil
}

// checkAuthzScope refuses a scope outside the tenant: the root scope only
// lists role definitions; any other scope is a subscription of the tenant
// or an existing resource in one.
func (s *Server) checkAuthzScope(q *request, scope, typ string, list bool) *armError {
	if scope == "/" {
		if typ == roleDefType && list && q.r.Method == http.MethodGet {
			return nil
		}
		return errf(http.StatusBadRequest, "MissingSubscription", "The request did not have a subscription or a valid tenant level resource provider.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subscriptionLocked(subscriptionOf(scope))
	if !ok {
		return errf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", subscriptionOf(scope))
	}
	q.sub = sub
	if !strings.EqualFold(strings.TrimSuffix(scope, "/"), "/subscriptions/"+sub) && s.st.get(scope) == nil {
		return errf(http.StatusNotFound, "ResourceNotFound", "The scope '%s' was not found.", scope)
	}
	return nil
}

// listRoleDefinitionsLocked renders the role definitions a list at scope returns.
func (s *Server) listRoleDefinitionsLocked(scope string, f roleFilter) []json.RawMessage {
	out := []json.RawMessage{}
	for _, b := range builtinRoles {
		if f.matches(b.name, "BuiltInRole") {
			out = append(out, mustJSON(s.roleDefModel(scope, b)))
		}
	}
	for _, e := range s.customRolesLocked() {
		var rd armauthorization.RoleDefinition
		if json.Unmarshal(e.Model, &rd) != nil || rd.Properties == nil || !f.matches(deref(rd.Properties.RoleName), "CustomRole") {
			continue
		}
		visible := scope == "/"
		for _, as := range roleScopesOf(rd) {
			visible = visible || scopeWithin(scope, as) || (f.below && scopeWithin(as, scope))
		}
		if visible {
			out = append(out, e.Model)
		}
	}
	return out
}

// roleDefinitionLocked serves GET and DELETE of one role definition (under s.mu).
func (s *Server) roleDefinitionLocked(w http.ResponseWriter, q *request, scope, name string) *armError {
	for _, b := range builtinRoles {
		if strings.EqualFold(b.id, name) {
			if q.r.Method != http.MethodGet {
				return errf(http.StatusForbidden, "RoleDefinitionIsBuiltIn", "Built-in role definitions cannot be changed.")
			}
			writeJSON(w, http.StatusOK, mustJSON(s.roleDefModel(scope, b)))
			return nil
		}
	}
	old, _ := s.customRoleLocked(name)
	switch q.r.Method {
	case http.MethodGet:
		if old == nil {
			return errf(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", name)
		}
		writeJSON(w, http.StatusOK, old.Model)
		return nil
	case http.MethodDelete:
		if old == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		s.st.del(old.ID)
		_ = s.saveLocked()
		writeJSON(w, http.StatusOK, old.Model)
		return nil
	}
	return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
}

// putRoleDefinition creates or updates a custom role. The role is stored
// under the subscription of the scope it was written at, as Azure names it
// (/subscriptions/{id}/providers/Microsoft.Authorization/roleDefinitions/{guid}),
// so it outlives the resource group it may have been written at.
func (s *Server) putRoleDefinition(w http.ResponseWriter, q *request, scope, name string) *armError {
	if !uuidRE.MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidRoleDefinitionId", "The role definition ID '%s' is not valid. The role definition ID must be a GUID.", name)
	}
	var in armauthorization.RoleDefinition
	if e := decodeStrict(q.body, &in); e != nil {
		return e
	}
	if in.Properties == nil || in.Properties.RoleName == nil || *in.Properties.RoleName == "" {
		return errf(http.StatusBadRequest, "InvalidRoleDefinitionName", "The role definition must have a roleName.")
	}
	scopes := roleScopesOf(in)
	if len(scopes) == 0 {
		scopes = []string{scope}
	}
	// Azure's custom-roles docs: whoever writes a custom role needs
	// roleDefinitions/write on every one of its assignable scopes.
	for _, sc := range append([]string{scope}, scopes...) {
		if e := s.authorizeAction(q, sc, roleDefType+"/write"); e != nil {
			return e
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range scopes {
		sub, ok := s.subscriptionLocked(subscriptionOf(sc))
		if !ok || (!strings.EqualFold(strings.TrimSuffix(sc, "/"), "/subscriptions/"+sub) && s.st.get(sc) == nil) {
			return errf(http.StatusBadRequest, "InvalidAssignableScope", "The assignable scope '%s' is not valid: it names no subscription, resource group or resource of this directory.", sc)
		}
	}
	if !withinAny(scope, scopes) {
		return errf(http.StatusBadRequest, "InvalidRoleDefinitionScope",
			"The role definition is written at scope '%s', which is not within any of its assignable scopes (%s). Write it at one of them.", scope, strings.Join(scopes, ", "))
	}
	old, oldDef := s.customRoleLocked(name)
	for _, e := range s.customRolesLocked() {
		var rd armauthorization.RoleDefinition
		_ = json.Unmarshal(e.Model, &rd)
		if !strings.EqualFold(path.Base(e.ID), name) && rd.Properties != nil && strings.EqualFold(deref(rd.Properties.RoleName), *in.Properties.RoleName) {
			return errf(http.StatusConflict, "RoleDefinitionWithSameNameExists", "A custom role with the same name already exists in this directory. Use a different name.")
		}
	}
	if old != nil {
		// An assignable scope may be dropped only once no assignment of the
		// role is left under it (Azure/bicep#17145).
		for _, was := range roleScopesOf(oldDef) {
			if withinAny(was, scopes) {
				continue
			}
			for _, ra := range s.assignmentsOfLocked("", "") {
				if strings.EqualFold(path.Base(*ra.Properties.RoleDefinitionID), name) && scopeWithin(*ra.Properties.Scope, was) {
					return errf(http.StatusBadRequest, "RoleScopeBeingRemovedContainsAssignments",
						"Role assignments found under scope '%s' which is being removed. Removing this scope from the role will orphan these assignments. Delete these assignments before removing the scope.", was)
				}
			}
		}
	}
	id := "/subscriptions/" + subscriptionOf(scope) + "/providers/" + roleDefType + "/" + name
	created := s.nowLocked()
	if old != nil {
		id, created = old.ID, old.Created
	}
	in.ID, in.Name, in.Type = &id, &name, strPtr(roleDefType)
	in.Properties.RoleType = strPtr("CustomRole")
	in.Properties.AssignableScopes = nil
	for _, sc := range scopes {
		in.Properties.AssignableScopes = append(in.Properties.AssignableScopes, strPtr(sc))
	}
	model := mustJSON(in)
	s.st.put(&entry{ID: id, Type: roleDefType, Model: model, Created: created})
	_ = s.saveLocked()
	// 201 for an update too: the API's only success answer for this PUT.
	writeJSON(w, http.StatusCreated, model)
	return nil
}

// checkAssignableLocked refuses to assign a role that does not exist or,
// for a custom role, outside its assignable scopes: Azure answers that as
// a role it cannot find at that scope (400 RoleDefinitionDoesNotExist).
func (s *Server) checkAssignableLocked(scope, defID string) *armError {
	guid := path.Base(defID)
	for _, b := range builtinRoles {
		if strings.EqualFold(b.id, guid) {
			return nil
		}
	}
	e, rd := s.customRoleLocked(guid)
	if e == nil || !withinAny(scope, roleScopesOf(rd)) {
		return errf(http.StatusBadRequest, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", guid)
	}
	return nil
}
