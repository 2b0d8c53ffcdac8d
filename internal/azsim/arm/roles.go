package arm

import (
	"encoding/json"
	"net/http"
	"path"
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
	{vmContributorID, "Virtual Machine Contributor", []string{"Microsoft.Compute/virtualMachines/*", "Microsoft.Network/*/read", "Microsoft.Network/networkInterfaces/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}, nil},
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
		ID: strPtr(scope + "/providers/Microsoft.Authorization/roleDefinitions/" + b.id), Name: strPtr(b.id), Type: strPtr(roleDefType),
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

// authorize enforces role assignments for managed-identity callers. The
// service principal of endpoint.json owns the subscription.
func (s *Server) authorize(q *request, scope, method, typ string) *armError {
	return s.authorizeAction(q, scope, actionFor(typ, method))
}

// authorizeAction checks that a managed-identity caller holds action at scope.
func (s *Server) authorizeAction(q *request, scope, action string) *armError {
	if q.principal.Kind != auth.KindManagedIdentity {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := strings.ToLower(scope)
	for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, roleAssignType) {
		var ra armauthorization.RoleAssignment
		_ = json.Unmarshal(e.Model, &ra)
		if ra.Properties == nil || ra.Properties.PrincipalID == nil || *ra.Properties.PrincipalID != q.principal.ObjectID {
			continue
		}
		as := strings.ToLower(*ra.Properties.Scope)
		if ls != as && !strings.HasPrefix(ls, as+"/") {
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

// rolePermissions resolves a role definition id to its actions (under s.mu).
func (s *Server) rolePermissions(defID string) (acts, nots []string) {
	name := defID[strings.LastIndex(defID, "/")+1:]
	for _, b := range builtinRoles {
		if strings.EqualFold(b.id, name) {
			return b.actions, b.notAction
		}
	}
	for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, roleDefType) {
		if !strings.EqualFold(path.Base(e.ID), name) {
			continue
		}
		var rd armauthorization.RoleDefinition
		_ = json.Unmarshal(e.Model, &rd)
		for _, p := range rd.Properties.Permissions {
			for _, a := range p.Actions {
				acts = append(acts, *a)
			}
			for _, a := range p.NotActions {
				nots = append(nots, *a)
			}
		}
	}
	return acts, nots
}

// authorization serves {scope}/providers/Microsoft.Authorization/{roleDefinitions|roleAssignments}[/{name}].
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
	if e := s.authorize(q, scope, q.r.Method, typ); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if scope != "/subscriptions/"+s.opts.SubscriptionID && s.st.get(scope) == nil && !strings.EqualFold(scope, "/subscriptions/"+s.opts.SubscriptionID) {
		return errf(http.StatusNotFound, "ResourceNotFound", "The scope '%s' was not found.", scope)
	}
	if len(rest) == 1 {
		out := []json.RawMessage{}
		if typ == roleDefType {
			for _, b := range builtinRoles {
				out = append(out, mustJSON(s.roleDefModel(scope, b)))
			}
		}
		filter := q.r.URL.Query().Get("$filter")
		for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, typ) {
			if typ == roleAssignType {
				var ra armauthorization.RoleAssignment
				_ = json.Unmarshal(e.Model, &ra)
				if strings.Contains(filter, "principalId eq '") && !strings.Contains(filter, "'"+*ra.Properties.PrincipalID+"'") {
					continue
				}
			}
			out = append(out, e.Model)
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	name := rest[1]
	id := scope + "/providers/" + typ + "/" + name
	if typ == roleDefType {
		for _, b := range builtinRoles {
			if strings.EqualFold(b.id, name) {
				if q.r.Method != http.MethodGet {
					return errf(http.StatusForbidden, "RoleDefinitionIsBuiltIn", "Built-in role definitions cannot be changed.")
				}
				writeJSON(w, http.StatusOK, mustJSON(s.roleDefModel(scope, b)))
				return nil
			}
		}
	}
	old := s.st.get(id)
	switch q.r.Method {
	case http.MethodGet:
		if old == nil {
			if typ == roleDefType {
				return errf(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", name)
			}
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
	var model json.RawMessage
	if typ == roleDefType {
		var in armauthorization.RoleDefinition
		if e := decodeStrict(q.body, &in); e != nil {
			return e
		}
		if in.Properties == nil || in.Properties.RoleName == nil || *in.Properties.RoleName == "" {
			return errf(http.StatusBadRequest, "InvalidRoleDefinitionName", "The role definition must have a roleName.")
		}
		for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, roleDefType) {
			var rd armauthorization.RoleDefinition
			_ = json.Unmarshal(e.Model, &rd)
			if !strings.EqualFold(e.ID, id) && strings.EqualFold(*rd.Properties.RoleName, *in.Properties.RoleName) {
				return errf(http.StatusConflict, "RoleDefinitionWithSameNameExists", "A custom role with the same name already exists in this directory. Use a different name.")
			}
		}
		in.ID, in.Name, in.Type = &id, &name, strPtr(roleDefType)
		in.Properties.RoleType = strPtr("CustomRole")
		if len(in.Properties.AssignableScopes) == 0 {
			in.Properties.AssignableScopes = []*string{&scope}
		}
		model = mustJSON(in)
	} else {
		var in armauthorization.RoleAssignmentCreateParameters
		if e := decodeStrict(q.body, &in); e != nil {
			return e
		}
		if in.Properties == nil || in.Properties.PrincipalID == nil || in.Properties.RoleDefinitionID == nil {
			return errf(http.StatusBadRequest, "InvalidRoleAssignmentRequest", "principalId and roleDefinitionId are required.")
		}
		if acts, _ := s.rolePermissions(*in.Properties.RoleDefinitionID); acts == nil {
			return errf(http.StatusBadRequest, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", path.Base(*in.Properties.RoleDefinitionID))
		}
		for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, roleAssignType) {
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
		out := armauthorization.RoleAssignment{ID: &id, Name: &name, Type: strPtr(roleAssignType),
			Properties: &armauthorization.RoleAssignmentProperties{PrincipalID: in.Properties.PrincipalID, RoleDefinitionID: in.Properties.RoleDefinitionID,
				Scope: &scope, PrincipalType: &pt, Description: in.Properties.Description, CreatedOn: &now, UpdatedOn: &now}}
		model = mustJSON(out)
	}
	e := &entry{ID: id, Type: typ, Model: model, Created: s.nowLocked()}
	s.st.put(e)
	_ = s.saveLocked()
	writeJSON(w, http.StatusCreated, model)
	return nil
}
