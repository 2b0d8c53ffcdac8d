package arm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/mngr-azure/mngr/internal/azsim/openapi"
)

// apiSpecs are the vendored Azure OpenAPI documents, loaded on first use.
var apiSpecs = sync.OnceValues(openapi.Load)

// checkBody validates a PUT/PATCH/POST body against the OpenAPI operation
// the request addresses, when the vendored documents describe it, so azsim
// never accepts what the published contract rejects. A PUT of an existing
// resource is checked as an update (x-ms-mutability) against the stored model.
func (s *Server) checkBody(r *http.Request, body []byte) *armError {
	switch r.Method {
	case http.MethodPut, http.MethodPatch, http.MethodPost:
	default:
		return nil
	}
	specs, err := apiSpecs()
	if err != nil {
		return errf(http.StatusInternalServerError, "InternalServerError", "azsim could not load its OpenAPI documents: %v", err)
	}
	op, ok := specs.Find(r.Method, r.URL.Path, r.URL.Query().Get("api-version"))
	if !ok {
		return nil
	}
	var existing []byte
	if r.Method != http.MethodPost {
		s.mu.Lock()
		if e := s.st.get(r.URL.Path); e != nil {
			existing = append([]byte(nil), e.Model...)
		}
		s.mu.Unlock()
	}
	findings := op.Validate(r.URL.Path, body, existing)
	if len(findings) == 0 {
		return nil
	}
	f := findings[0]
	code := "InvalidParameter"
	switch f.Rule {
	case openapi.RuleBody, openapi.RuleType, openapi.RuleUnknown, openapi.RuleReadOnly:
		code = "InvalidRequestContent"
	}
	msg := fmt.Sprintf("The request of %s does not conform to its OpenAPI schema (api-version %s): %s", op.ID, op.APIVersion, f.Message)
	if f.Path != "" {
		msg += fmt.Sprintf(" Target: '%s'.", f.Path)
	}
	if len(findings) > 1 {
		msg += fmt.Sprintf(" (%d more findings)", len(findings)-1)
	}
	return errf(http.StatusBadRequest, code, "%s", msg)
}

// secretMembers are body members the request log never records in clear:
// passwords and secrets, and customData/userData, which carry cloud-init
// (keys, tokens). Each is replaced by a digest, so a replay still sees a
// string of the same role and two logs can be compared.
var secretMembers = map[string]bool{
	"adminpassword": true, "password": true, "customdata": true, "userdata": true,
	"protectedsettings": true, "clientsecret": true, "secret": true,
}

// logBody returns the body to record in requests.jsonl: JSON with secrets
// replaced by "redacted:sha256:<16 hex>", or a JSON string for a body that
// is not JSON; nil for an empty body.
func logBody(body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		b, _ := json.Marshal(string(trimmed)) //nolint:errchkjson // a string always encodes
		return b
	}
	b, err := json.Marshal(redact(v))
	if err != nil {
		return nil
	}
	return b
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && secretMembers[strings.ToLower(k)] {
				sum := sha256.Sum256([]byte(s))
				t[k] = "redacted:sha256:" + hex.EncodeToString(sum[:8])
				continue
			}
			if secretMembers[strings.ToLower(k)] && x != nil {
				t[k] = "redacted"
				continue
			}
			t[k] = redact(x)
		}
	case []any:
		for i, x := range t {
			t[i] = redact(x)
		}
	}
	return v
}
