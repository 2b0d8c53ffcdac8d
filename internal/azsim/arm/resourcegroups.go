package arm

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
)

const rgType = "Microsoft.Resources/resourceGroups"

func (s *Server) listResourceGroups(w http.ResponseWriter, q *request) *armError {
	if q.r.Method != http.MethodGet {
		return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []json.RawMessage{}
	for _, e := range s.st.ofType("/subscriptions/"+q.sub, rgType) {
		out = append(out, e.Model)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) resourceGroup(w http.ResponseWriter, q *request, name string) *armError {
	id := "/subscriptions/" + q.sub + "/resourceGroups/" + name
	if e := s.authorize(q, id, q.r.Method, rgType); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st.get(id)
	switch q.r.Method {
	case http.MethodHead:
		if old == nil {
			w.WriteHeader(http.StatusNotFound)
			return nil
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodGet:
		if old == nil {
			return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
		}
		writeJSON(w, http.StatusOK, old.Model)
		return nil
	case http.MethodPut, http.MethodPatch:
		var in armresources.ResourceGroup
		if e := decodeStrict(q.body, &in); e != nil {
			return e
		}
		if e := validName(name, 90, `^[-\w\._\(\)]+$`, "resource group"); e != nil || strings.HasSuffix(name, ".") {
			return errf(http.StatusBadRequest, "InvalidResourceGroup", "The provided resource group name '%s' has these invalid characters or is too long.", name)
		}
		if q.r.Method == http.MethodPatch {
			if old == nil {
				return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
			}
			var cur armresources.ResourceGroup
			_ = json.Unmarshal(old.Model, &cur)
			if in.Tags != nil {
				cur.Tags = in.Tags
			}
			in = cur
		}
		if in.Location == nil || *in.Location == "" {
			return errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
		}
		if e := checkLocation(*in.Location); e != nil {
			return e
		}
		if e := validateTags(in.Tags); e != nil {
			return e
		}
		if old != nil {
			var cur armresources.ResourceGroup
			_ = json.Unmarshal(old.Model, &cur)
			if !strings.EqualFold(*cur.Location, *in.Location) {
				return errf(http.StatusConflict, "InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", *in.Location, *cur.Location)
			}
		}
		out := armresources.ResourceGroup{
			ID: &id, Name: &name, Type: strPtr(rgType), Location: strPtr(normLocation(*in.Location)), Tags: in.Tags, ManagedBy: in.ManagedBy,
			Properties: &armresources.ResourceGroupProperties{ProvisioningState: strPtr("Succeeded")},
		}
		e := &entry{ID: id, Type: rgType, Model: mustJSON(out), Created: s.nowLocked()}
		status := http.StatusCreated
		if old != nil {
			e.Created = old.Created
			status = http.StatusOK
		}
		s.st.put(e)
		if err := s.saveLocked(); err != nil {
			return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
		}
		writeJSON(w, status, e.Model)
		return nil
	case http.MethodDelete:
		if old == nil {
			return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
		}
		// VMs first (their cascades release NICs and IPs), then everything else.
		for _, c := range s.st.ofType(id, vmType) {
			s.deleteEntry(c)
		}
		for _, c := range s.st.under(id) {
			if s.st.get(c.ID) != nil {
				s.deleteEntry(c)
			}
		}
		s.st.del(id)
		if err := s.saveLocked(); err != nil {
			return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
		}
		s.startOp(w, "Microsoft.Resources", "", true)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
}

func (s *Server) listRGResources(w http.ResponseWriter, q *request, rg string) *armError {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := "/subscriptions/" + q.sub
	if rg != "" {
		prefix += "/resourceGroups/" + rg
		if s.st.get(prefix) == nil {
			return errf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
		}
	}
	out := []map[string]any{}
	for _, e := range s.st.under(prefix) {
		if strings.EqualFold(e.Type, rgType) || strings.Count(e.Type, "/") > 1 || strings.Contains(strings.ToLower(e.Type), "microsoft.authorization") {
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(e.Model, &m)
		out = append(out, map[string]any{"id": e.ID, "name": m["name"], "type": e.Type, "location": m["location"], "tags": m["tags"]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func strPtr(s string) *string { return &s }

func normLocation(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }

func checkLocation(l string) *armError {
	if normLocation(l) != DefaultLocation {
		return errf(http.StatusBadRequest, "LocationNotAvailableForResourceType", "The provided location '%s' is not available for resource type. List of available regions is '%s'.", l, DefaultLocation)
	}
	return nil
}
