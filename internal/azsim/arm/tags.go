package arm

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v4"
)

// validateTags enforces Azure's tag limits.
func validateTags(tags map[string]*string) *armError {
	if len(tags) > 50 {
		return errf(http.StatusBadRequest, "InvalidTag", "The number of tags (%d) exceeds the limit of 50 tags per resource.", len(tags))
	}
	for k, v := range tags {
		if len(k) > 512 {
			return errf(http.StatusBadRequest, "InvalidTagNameLength", "The tag name '%s…' exceeds the maximum length of 512 characters.", k[:32])
		}
		if strings.ContainsAny(k, "<>%&\\?/") {
			return errf(http.StatusBadRequest, "InvalidTagNameCharacters", "The tag name '%s' has invalid characters '<,>,%%,&,\\,?,/'.", k)
		}
		if v != nil && len(*v) > 256 {
			return errf(http.StatusBadRequest, "InvalidTagValueLength", "The tag value for '%s' exceeds the maximum length of 256 characters.", k)
		}
	}
	return nil
}

func validName(name string, maxLen int, pattern, what string) *armError {
	if name == "" || len(name) > maxLen || !regexp.MustCompile(pattern).MatchString(name) {
		return errf(http.StatusBadRequest, "InvalidResourceName", "Resource name %s is invalid for a %s.", name, what)
	}
	return nil
}

// tagsAtScope serves {scope}/providers/Microsoft.Resources/tags/default.
func (s *Server) tagsAtScope(w http.ResponseWriter, q *request, scope string) *armError {
	if e := checkAPIVersion("microsoft.resources", q.api, "tags"); e != nil {
		return e
	}
	if e := s.authorize(q, scope, q.r.Method, "Microsoft.Resources/tags"); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.st.get(scope)
	if e == nil {
		return errf(http.StatusNotFound, "ResourceNotFound", "The Resource '%s' was not found.", scope)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(e.Model, &m)
	cur := map[string]*string{}
	if t, ok := m["tags"]; ok {
		_ = json.Unmarshal(t, &cur)
	}
	switch q.r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var in armresources.TagsResource
		if aerr := decodeStrict(q.body, &in); aerr != nil {
			return aerr
		}
		cur = map[string]*string{}
		if in.Properties != nil {
			cur = in.Properties.Tags
		}
	case http.MethodPatch:
		var in armresources.TagsPatchResource
		if aerr := decodeStrict(q.body, &in); aerr != nil {
			return aerr
		}
		var tags map[string]*string
		if in.Properties != nil {
			tags = in.Properties.Tags
		}
		op := armresources.TagsPatchOperationMerge
		if in.Operation != nil {
			op = *in.Operation
		}
		switch op {
		case armresources.TagsPatchOperationMerge:
			for k, v := range tags {
				cur[k] = v
			}
		case armresources.TagsPatchOperationReplace:
			cur = tags
		case armresources.TagsPatchOperationDelete:
			for k, v := range tags {
				if old, ok := cur[k]; ok && (v == nil || *v == "" || old != nil && *old == *v) {
					delete(cur, k)
				}
			}
		default:
			return errf(http.StatusBadRequest, "InvalidRequestContent", "The operation '%s' is not one of Merge, Replace, Delete.", op)
		}
	case http.MethodDelete:
		cur = map[string]*string{}
	default:
		return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
	}
	if cur == nil {
		cur = map[string]*string{}
	}
	if q.r.Method != http.MethodGet {
		if aerr := validateTags(cur); aerr != nil {
			return aerr
		}
		m["tags"] = mustJSON(cur)
		e.Model = mustJSON(m)
		if err := s.saveLocked(); err != nil {
			return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
		}
	}
	out := armresources.TagsResource{ID: strPtr(scope + "/providers/Microsoft.Resources/tags/default"), Name: strPtr("default"),
		Type: strPtr("Microsoft.Resources/tags"), Properties: &armresources.Tags{Tags: cur}}
	if q.r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	writeJSON(w, http.StatusOK, mustJSON(out))
	return nil
}
