package docker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// TokenIssuer issues a managed-identity access token for principalID with
// the given audience (resource), as azsim's token endpoint would.
type TokenIssuer func(principalID, resource string) (token string, expiresOn time.Time, err error)

// imdsHandler answers one VM's Instance Metadata Service requests. It is
// served on that VM's own unix socket, so the socket names the VM.
type imdsHandler struct {
	spec  func() vm.Spec
	issue TokenIssuer
	now   func() time.Time
}

// imdsAPIVersions are the versions IMDS lists when a request names none.
var imdsAPIVersions = []string{"2021-02-01", "2021-12-13", "2023-07-01"}

func (h *imdsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Real IMDS refuses proxied requests and requests without the header.
	if r.Header.Get("X-Forwarded-For") != "" {
		imdsError(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "Request contains X-Forwarded-For header"})
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		imdsError(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "Required metadata header not specified"})
		return
	}
	if r.Method != http.MethodGet {
		imdsError(w, http.StatusMethodNotAllowed, map[string]any{"error": "Method not allowed"})
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		imdsError(w, http.StatusBadRequest, map[string]any{
			"error":           "Bad request. api-version was not specified in the request.",
			"newest-versions": imdsAPIVersions,
		})
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/metadata/identity/oauth2/token":
		h.token(w, r)
	case path == "/metadata/instance" || strings.HasPrefix(path, "/metadata/instance/"):
		h.instance(w, r, strings.TrimPrefix(strings.TrimPrefix(path, "/metadata/instance"), "/"))
	default:
		imdsError(w, http.StatusNotFound, map[string]any{"error": "Not found"})
	}
}

// token returns a managed-identity token for one of the VM's identities:
// the one the request names (client_id, object_id, msi_res_id or
// mi_res_id), else the system-assigned one, else the only user-assigned one.
func (h *imdsHandler) token(w http.ResponseWriter, r *http.Request) {
	spec := h.spec()
	q := r.URL.Query()
	resource := q.Get("resource")
	if resource == "" {
		imdsError(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "Required audience parameter not specified"})
		return
	}
	principal, clientID, msg := pickIdentity(spec, q.Get("client_id"), q.Get("object_id"), firstNonEmpty(q.Get("msi_res_id"), q.Get("mi_res_id")))
	if msg != "" {
		imdsError(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": msg})
		return
	}
	tok, exp, err := h.issue(principal, resource)
	if err != nil {
		imdsError(w, http.StatusInternalServerError, map[string]any{"error": "unknown", "error_description": fmt.Sprintf("issue token: %v", err)})
		return
	}
	now := h.now()
	in := int64(exp.Sub(now).Seconds())
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":   tok,
		"client_id":      clientID,
		"expires_in":     strconv.FormatInt(in, 10),
		"expires_on":     strconv.FormatInt(exp.Unix(), 10),
		"ext_expires_in": strconv.FormatInt(in, 10),
		"not_before":     strconv.FormatInt(now.Unix(), 10),
		"resource":       resource,
		"token_type":     "Bearer",
	})
}

// pickIdentity chooses the identity a token request names and returns its
// principal and client ids, or the error IMDS answers. Without a selector
// the system-assigned identity is used, or the user-assigned one when it is
// the VM's only identity.
func pickIdentity(spec vm.Spec, clientID, objectID, resID string) (principal, client, msg string) {
	if clientID == "" && objectID == "" && resID == "" {
		switch {
		case spec.PrincipalID != "":
			return spec.PrincipalID, spec.PrincipalID, ""
		case len(spec.UserIdentities) == 1:
			u := spec.UserIdentities[0]
			return u.PrincipalID, u.ClientID, ""
		case len(spec.UserIdentities) > 1:
			return "", "", "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request"
		}
		return "", "", "Identity not found"
	}
	if spec.PrincipalID != "" && resID == "" &&
		(clientID == "" || strings.EqualFold(clientID, spec.PrincipalID)) && (objectID == "" || strings.EqualFold(objectID, spec.PrincipalID)) {
		return spec.PrincipalID, spec.PrincipalID, ""
	}
	for _, u := range spec.UserIdentities {
		if (clientID == "" || strings.EqualFold(clientID, u.ClientID)) && (objectID == "" || strings.EqualFold(objectID, u.PrincipalID)) &&
			(resID == "" || strings.EqualFold(resID, u.ResourceID)) {
			return u.PrincipalID, u.ClientID, ""
		}
	}
	return "", "", "Identity not found"
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// instance answers /metadata/instance and any path below it; leaves can be
// asked for with format=text, as scripts do for compute/resourceId.
func (h *imdsHandler) instance(w http.ResponseWriter, r *http.Request, sub string) {
	var node any = instanceDocument(h.spec())
	if sub != "" {
		for _, seg := range strings.Split(sub, "/") {
			next, ok := child(node, seg)
			if !ok {
				imdsError(w, http.StatusNotFound, map[string]any{"error": "Not found"})
				return
			}
			node = next
		}
	}
	switch format := r.URL.Query().Get("format"); format {
	case "", "json":
		writeJSON(w, http.StatusOK, node)
	case "text":
		text, ok := leafText(node)
		if !ok {
			imdsError(w, http.StatusBadRequest, map[string]any{"error": "Bad request. Query parameter format=text is only valid for leaf nodes."})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(text))
	default:
		imdsError(w, http.StatusBadRequest, map[string]any{"error": "Bad request. Unsupported format " + strconv.Quote(format)})
	}
}

// instanceDocument is the VM's instance metadata as IMDS shapes it. Fields
// the backend does not know (location, size, private address) stay empty.
func instanceDocument(spec vm.Spec) map[string]any {
	parts := parseResourceID(spec.ResourceID)
	keys := []any{}
	for _, k := range spec.SSHPublicKeys {
		keys = append(keys, map[string]any{"keyData": k, "path": "/home/" + spec.AdminUser + "/.ssh/authorized_keys"})
	}
	return map[string]any{
		"compute": map[string]any{
			"azEnvironment":     "AzurePublicCloud",
			"location":          "",
			"name":              spec.Name,
			"osProfile":         map[string]any{"adminUsername": spec.AdminUser, "computerName": spec.ComputerName, "disablePasswordAuthentication": "true"},
			"osType":            "Linux",
			"provider":          "Microsoft.Compute",
			"publicKeys":        keys,
			"resourceGroupName": parts.ResourceGroup,
			"resourceId":        spec.ResourceID,
			"subscriptionId":    parts.SubscriptionID,
			"tags":              "",
			"tagsList":          []any{},
			"vmId":              vmIDFor(spec.ResourceID),
			"vmSize":            "",
			"zone":              "",
		},
		"network": map[string]any{
			"interface": []any{map[string]any{
				"ipv4": map[string]any{
					"ipAddress": []any{map[string]any{"privateIpAddress": "", "publicIpAddress": spec.PublicIP}},
					"subnet":    []any{},
				},
				"ipv6":       map[string]any{"ipAddress": []any{}},
				"macAddress": "",
			}},
		},
	}
}

// child steps one path segment into a document: a key of an object (IMDS
// names are matched ignoring case) or an index of an array.
func child(node any, seg string) (any, bool) {
	switch n := node.(type) {
	case map[string]any:
		if v, ok := n[seg]; ok {
			return v, true
		}
		for k, v := range n {
			if strings.EqualFold(k, seg) {
				return v, true
			}
		}
	case []any:
		i, err := strconv.Atoi(seg)
		if err == nil && i >= 0 && i < len(n) {
			return n[i], true
		}
	}
	return nil, false
}

func leafText(node any) (string, bool) {
	switch n := node.(type) {
	case string:
		return n, true
	case bool, int, int64, float64:
		return fmt.Sprint(n), true
	}
	return "", false
}

func imdsError(w http.ResponseWriter, status int, body map[string]any) {
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
