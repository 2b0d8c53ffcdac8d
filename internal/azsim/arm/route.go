package arm

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// kind is one resource type's behaviour.
type kind struct {
	typ string
	// put validates the body and returns the entry to store (under s.mu).
	put func(s *Server, q *request, id, rg, name string, old *entry) (*entry, *armError)
	// canDelete refuses a delete while the resource is in use (under s.mu).
	canDelete func(s *Server, e *entry) *armError
	// deleted runs cascades after the entry is gone (under s.mu).
	deleted func(s *Server, e *entry)
	// action serves POST {id}/{action} and GET {id}/{subresource}.
	action func(s *Server, w http.ResponseWriter, q *request, e *entry, action string) *armError
	// afterPut runs once the PUT's entry is stored and its operation
	// registered (under s.mu).
	afterPut func(s *Server, e *entry, op *operation)
	// failed turns a PUT's stored entry into one Azure accepted and then
	// failed (a fault with fail_after_accept), instead of afterPut, and
	// returns the PUT's answer: the resource still in progress (under s.mu).
	failed func(s *Server, e *entry) json.RawMessage
	// render adjusts the stored model for a response (under s.mu).
	render func(s *Server, e *entry) json.RawMessage
	// children are child collections (e.g. subnets) served under the id.
	children map[string]*kind
	// syncDelete answers a DELETE 200 at once, without a long-running
	// operation (as Microsoft.ManagedIdentity does).
	syncDelete bool
}

var kinds = map[string]*kind{}

func register(k *kind) { kinds[strings.ToLower(k.typ)] = k }

func (s *Server) route(w http.ResponseWriter, q *request) *armError {
	l := make([]string, len(q.segs))
	for i, v := range q.segs {
		l[i] = strings.ToLower(v)
	}
	// Extension resources at any scope.
	for i := len(l) - 2; i >= 0; i-- {
		if l[i] != "providers" {
			continue
		}
		switch l[i+1] {
		case "microsoft.resources":
			if len(l) == i+4 && l[i+2] == "tags" && l[i+3] == "default" {
				return s.tagsAtScope(w, q, "/"+strings.Join(q.segs[:i], "/"))
			}
		case "microsoft.authorization":
			return s.authorization(w, q, "/"+strings.Join(q.segs[:i], "/"), q.segs[i+2:])
		}
	}
	if len(l) == 0 {
		return errf(http.StatusNotFound, "NotFound", "The requested resource does not exist.")
	}
	switch l[0] {
	case "tenants":
		if e := checkAPIVersion("microsoft.resources", q.api, "tenants"); e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{map[string]any{
			"id": "/tenants/" + s.opts.TenantID, "tenantId": s.opts.TenantID, "tenantCategory": "Home",
			"displayName": "azsim", "defaultDomain": "azsim.local", "domains": []string{"azsim.local"},
		}}})
		return nil
	case "subscriptions":
	default:
		return errf(http.StatusNotFound, "NotFound", "The requested path %q does not exist.", q.r.URL.Path)
	}
	if len(l) == 1 {
		if e := checkAPIVersion("microsoft.resources", q.api, "subscriptions"); e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": s.visibleSubscriptions(q)})
		return nil
	}
	s.mu.Lock()
	sub, known := s.subscriptionLocked(q.segs[1])
	s.mu.Unlock()
	if !known {
		return errf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", q.segs[1])
	}
	q.sub = sub
	subID := "/subscriptions/" + sub
	if len(l) == 2 {
		if e := checkAPIVersion("microsoft.resources", q.api, "subscriptions"); e != nil {
			return e
		}
		writeJSON(w, http.StatusOK, s.subscriptionBody(sub))
		return nil
	}
	switch l[2] {
	case "resourcegroups":
		if e := checkAPIVersion("microsoft.resources", q.api, "resourceGroups"); e != nil && (len(l) <= 4 || l[4] != "providers") {
			return e
		}
		if len(l) == 3 {
			return s.listResourceGroups(w, q)
		}
		rg := q.segs[3]
		if len(l) == 4 {
			return s.resourceGroup(w, q, rg)
		}
		if len(l) >= 7 && l[4] == "providers" {
			return s.resource(w, q, subID+"/resourceGroups/"+rg, rg, q.segs[5], q.segs[6:])
		}
		if len(l) == 5 && l[4] == "resources" {
			return s.listRGResources(w, q, rg)
		}
	case "providers":
		if len(l) == 3 {
			return s.listProviders(w, q)
		}
		ns := q.segs[3]
		if len(l) == 4 {
			return s.getProvider(w, q, ns)
		}
		if len(l) == 5 && l[4] == "register" {
			return s.registerProvider(w, q, ns)
		}
		if e := checkAPIVersion(ns, q.api, strings.Join(q.segs[3:], "/")); e != nil {
			return e
		}
		if len(l) >= 8 && l[4] == "locations" && (l[6] == "operations" || l[6] == "operationresults" || l[6] == "asyncoperations") {
			return s.operation(w, q, l[6], q.segs[7])
		}
		if len(l) == 7 && l[4] == "locations" && l[6] == "usages" && l[3] == "microsoft.compute" {
			return s.usages(w, q)
		}
		if len(l) == 5 && l[3] == "microsoft.compute" && l[4] == "skus" {
			return s.skus(w, q)
		}
		if len(l) == 5 {
			return s.listAll(w, q, ns+"/"+q.segs[4])
		}
	case "resources":
		return s.listRGResources(w, q, "")
	}
	return errf(http.StatusNotFound, "NotFound", "The requested path %q does not exist.", q.r.URL.Path)
}

// visibleSubscriptions lists the subscriptions the caller may see: all of
// them for the owner, else those where it holds a role assignment (as
// Azure lists only subscriptions with some access).
func (s *Server) visibleSubscriptions(q *request) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, sub := range s.subs {
		if s.isOwner(q) || len(s.assignmentsOfLocked(q.principal.ObjectID, "/subscriptions/"+sub)) > 0 {
			out = append(out, s.subscriptionBody(sub))
		}
	}
	return out
}

func (s *Server) subscriptionBody(sub string) map[string]any {
	return map[string]any{
		"id": "/subscriptions/" + sub, "subscriptionId": sub,
		"tenantId": s.opts.TenantID, "displayName": "azsim", "state": "Enabled",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
		"authorizationSource":  "RoleBased",
	}
}

// resource serves {rg}/providers/{ns}/{type}/{name}[/…].
func (s *Server) resource(w http.ResponseWriter, q *request, rgID, rg, ns string, rest []string) *armError {
	typ := ns + "/" + rest[0]
	k := kinds[strings.ToLower(typ)]
	if k == nil {
		return errf(http.StatusBadRequest, "InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.", rest[0], ns, q.api)
	}
	if e := checkAPIVersion(ns, q.api, typ); e != nil {
		return e
	}
	if e := s.authorizeAction(q, resourceScope(rgID, k.typ, rest), resourceAction(k, q.r.Method, rest)); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.get(rgID) == nil {
		return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
	}
	if len(rest) == 1 {
		if q.r.Method != http.MethodGet {
			return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
		}
		return s.list(w, q, rgID, k.typ)
	}
	name := rest[1]
	id := rgID + "/providers/" + k.typ + "/" + name
	// Child collections nest (galleries/g/images/i/versions/v): walk down
	// while the next segment names a child of the current kind.
	for len(rest) >= 3 {
		ck := k.children[strings.ToLower(rest[2])]
		if ck == nil {
			break
		}
		parent := s.st.get(id)
		if parent == nil {
			return notFound(k.typ, name, rg)
		}
		if len(rest) == 3 {
			return s.list(w, q, id, ck.typ)
		}
		k, id, name, rest = ck, parent.ID+"/"+rest[2]+"/"+rest[3], rest[3], rest[2:]
	}
	if len(rest) >= 3 {
		e := s.st.get(id)
		if e == nil {
			return notFound(k.typ, name, rg)
		}
		if k.action == nil || len(rest) != 3 {
			return errf(http.StatusNotFound, "NotFound", "The requested path %q does not exist.", q.r.URL.Path)
		}
		return k.action(s, w, q, e, strings.ToLower(rest[2]))
	}
	return s.crud(w, q, k, id, rg, name)
}

// resourceScope is the most specific scope a request under a resource group
// acts on: the resource itself when the path names one, else the group.
func resourceScope(rgID, typ string, rest []string) string {
	if len(rest) < 2 {
		return rgID
	}
	return rgID + "/providers/" + typ + "/" + rest[1]
}

// resourceAction is the RBAC action of a request: a child type's verb
// (Microsoft.Network/virtualNetworks/subnets/write), a named action
// (Microsoft.Compute/virtualMachines/deallocate/action), or the type's verb.
func resourceAction(k *kind, method string, rest []string) string {
	for len(rest) >= 3 {
		ck := k.children[strings.ToLower(rest[2])]
		if ck == nil {
			if method == http.MethodPost {
				return k.typ + "/" + rest[2] + "/action"
			}
			break
		}
		k, rest = ck, rest[2:]
	}
	return actionFor(k.typ, method)
}

func notFound(typ, name, rg string) *armError {
	return errf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, rg)
}

func (s *Server) crud(w http.ResponseWriter, q *request, k *kind, id, rg, name string) *armError {
	old := s.st.get(id)
	switch q.r.Method {
	case http.MethodGet:
		if old == nil {
			return notFound(k.typ, name, rg)
		}
		if k.action != nil && q.r.URL.Query().Get("$expand") != "" {
			return k.action(s, w, q, old, "$expand")
		}
		writeJSON(w, http.StatusOK, s.renderEntry(old))
		return nil
	case http.MethodPut:
		e, aerr := k.put(s, q, id, rg, name, old)
		if aerr != nil {
			return aerr
		}
		if old != nil {
			e.Created = old.Created
		} else {
			e.Created = s.nowLocked()
		}
		s.st.put(e)
		if err := s.saveLocked(); err != nil {
			return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
		}
		status := http.StatusCreated
		if old != nil {
			status = http.StatusOK
		}
		op := s.startOp(w, nsOf(k.typ), "", false)
		body := s.renderEntry(e)
		switch {
		case q.failAfter != nil:
			op.Err = q.failAfter
			if k.failed != nil && old == nil {
				body = k.failed(s, e)
				_ = s.saveLocked()
			}
		case k.afterPut != nil:
			k.afterPut(s, e, op)
			body = s.renderEntry(e)
		}
		writeJSON(w, status, body)
		return nil
	case http.MethodDelete:
		if old == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if k.canDelete != nil {
			if aerr := k.canDelete(s, old); aerr != nil {
				return aerr
			}
		}
		s.deleteEntry(old)
		if err := s.saveLocked(); err != nil {
			return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
		}
		if k.syncDelete {
			w.WriteHeader(http.StatusOK)
			return nil
		}
		s.startOp(w, nsOf(k.typ), "", true)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method %s is not allowed.", q.r.Method)
}

// deleteEntry removes e and its children, then runs its cascade (under s.mu).
func (s *Server) deleteEntry(e *entry) {
	for _, c := range s.st.under(e.ID) {
		s.st.del(c.ID)
		// A nested resource's cascade runs too (a gallery's image
		// versions hold captured disks).
		if k := kinds[strings.ToLower(c.Type)]; k != nil && k.deleted != nil {
			k.deleted(s, c)
		}
	}
	s.st.del(e.ID)
	if k := kinds[strings.ToLower(e.Type)]; k != nil && k.deleted != nil {
		k.deleted(s, e)
	}
}

func nsOf(typ string) string { return strings.SplitN(typ, "/", 2)[0] }

func (s *Server) renderEntry(e *entry) json.RawMessage {
	if k := kinds[strings.ToLower(e.Type)]; k != nil && k.render != nil {
		return k.render(s, e)
	}
	return e.Model
}

func (s *Server) list(w http.ResponseWriter, q *request, prefix, typ string) *armError {
	out := []json.RawMessage{}
	expand := strings.EqualFold(typ, vmType) && q.r.URL.Query().Get("$expand") != ""
	if expand {
		// Azure honours $expand=instanceView on a resource-group VM list only with a $filter.
		if !strings.EqualFold(q.r.URL.Query().Get("$expand"), "instanceView") {
			return invalidParam("$expand", "The value '%s' of parameter $expand is invalid.", q.r.URL.Query().Get("$expand"))
		}
		if q.r.URL.Query().Get("$filter") == "" {
			return invalidParam("$expand", "The $expand=instanceView option can only be specified together with a valid $filter option.")
		}
	}
	for _, e := range s.st.ofType(prefix, typ) {
		if expand {
			out = append(out, s.withInstanceView(e))
			continue
		}
		out = append(out, s.renderEntry(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// listAll serves a subscription-wide list. It needs the type's read action
// at the subscription itself: a principal with rights on one resource
// group only is refused (403 AuthorizationFailed), as ARM refuses it.
func (s *Server) listAll(w http.ResponseWriter, q *request, typ string) *armError {
	k := kinds[strings.ToLower(typ)]
	if k == nil {
		return errf(http.StatusBadRequest, "InvalidResourceType", "The resource type '%s' could not be found.", typ)
	}
	if e := s.authorizeAction(q, "/subscriptions/"+q.sub, k.typ+"/read"); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []json.RawMessage{}
	for _, e := range s.st.ofType("/subscriptions/"+q.sub, k.typ) {
		if k.action != nil && q.r.URL.Query().Get("statusOnly") == "true" {
			out = append(out, s.withInstanceView(e))
			continue
		}
		out = append(out, s.renderEntry(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// operation is a long-running operation's status.
type operation struct {
	ID     string
	Done   time.Time
	Delete bool
	Err    *armError
	// Pending is true while background work (a VM backend) runs.
	Pending bool
}

// startOp registers an operation and sets the LRO headers (under s.mu).
func (s *Server) startOp(w http.ResponseWriter, ns, id string, isDelete bool) *operation {
	if id == "" {
		id = newID()
	}
	op := &operation{ID: id, Done: s.nowLocked().Add(time.Duration(s.opts.Latency * float64(10*time.Second))), Delete: isDelete}
	s.ops[id] = op
	base := s.opts.BaseURL + "/subscriptions/" + s.opts.SubscriptionID + "/providers/" + ns + "/locations/" + DefaultLocation
	api := apiVersions[strings.ToLower(ns)][0]
	w.Header().Set("Azure-AsyncOperation", base+"/operations/"+id+"?api-version="+api)
	w.Header().Set("Location", base+"/operationResults/"+id+"?api-version="+api)
	if op.Done.After(s.nowLocked()) {
		w.Header().Set("Retry-After", "1")
	}
	return op
}

func (s *Server) operation(w http.ResponseWriter, _ *request, kindSeg, id string) *armError {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.ops[id]
	if op == nil {
		return errf(http.StatusNotFound, "ResourceNotFound", "The operation '%s' was not found.", id)
	}
	running := op.Pending || s.nowLocked().Before(op.Done)
	if kindSeg == "operationresults" {
		if running {
			w.Header().Set("Location", s.opts.BaseURL+"/subscriptions/"+s.opts.SubscriptionID+"/providers/Microsoft.Compute/locations/"+DefaultLocation+"/operationResults/"+id)
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
		if op.Err != nil {
			return op.Err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	body := map[string]any{"name": id, "startTime": op.Done.Format(time.RFC3339Nano)}
	switch {
	case running:
		body["status"] = "InProgress"
		w.Header().Set("Retry-After", "1")
	case op.Err != nil:
		body["status"] = "Failed"
		body["error"] = map[string]any{"code": op.Err.Code, "message": op.Err.Message}
	default:
		body["status"] = "Succeeded"
		body["endTime"] = op.Done.Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
