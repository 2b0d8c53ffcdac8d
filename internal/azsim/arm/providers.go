package arm

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

var providerTypes = map[string][]string{
	"microsoft.compute":         {"virtualMachines", "galleries", "galleries/images", "galleries/images/versions", "skus", "locations/usages", "locations/operations"},
	"microsoft.network":         {"networkSecurityGroups", "virtualNetworks", "virtualNetworks/subnets", "publicIPAddresses", "networkInterfaces"},
	"microsoft.resources":       {"resourceGroups", "tags", "subscriptions", "tenants"},
	"microsoft.authorization":   {"roleDefinitions", "roleAssignments"},
	"microsoft.managedidentity": {"userAssignedIdentities"},
}

var providerNames = map[string]string{
	"microsoft.compute": "Microsoft.Compute", "microsoft.network": "Microsoft.Network",
	"microsoft.resources": "Microsoft.Resources", "microsoft.authorization": "Microsoft.Authorization",
	"microsoft.managedidentity": "Microsoft.ManagedIdentity",
}

func (s *Server) providerBody(ns string) map[string]any {
	l := strings.ToLower(ns)
	state := s.st.Providers[l]
	if state == "" {
		state = "NotRegistered"
	}
	if state == "Registering" && !s.nowLocked().Before(s.st.ProviderRegisteredAt[l]) {
		state = "Registered"
		s.st.Providers[l] = state
	}
	var rts []map[string]any
	for _, t := range providerTypes[l] {
		rts = append(rts, map[string]any{"resourceType": t, "locations": []string{"West US"}, "apiVersions": apiVersions[l]})
	}
	return map[string]any{"id": "/subscriptions/" + s.opts.SubscriptionID + "/providers/" + providerNames[l], "namespace": providerNames[l],
		"registrationState": state, "registrationPolicy": "RegistrationRequired", "resourceTypes": rts}
}

func (s *Server) listProviders(w http.ResponseWriter, q *request) *armError {
	if e := checkAPIVersion("microsoft.resources", q.api, "providers"); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for k := range providerNames {
		names = append(names, k)
	}
	sort.Strings(names)
	out := []any{}
	for _, n := range names {
		out = append(out, s.providerBody(n))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) getProvider(w http.ResponseWriter, q *request, ns string) *armError {
	if e := checkAPIVersion("microsoft.resources", q.api, "providers"); e != nil {
		return e
	}
	if providerNames[strings.ToLower(ns)] == "" {
		return errf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", ns)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.providerBody(ns))
	return nil
}

// registerProvider starts a registration; the namespace shows Registering for a few seconds.
func (s *Server) registerProvider(w http.ResponseWriter, q *request, ns string) *armError {
	if e := checkAPIVersion("microsoft.resources", q.api, "providers"); e != nil {
		return e
	}
	l := strings.ToLower(ns)
	if providerNames[l] == "" {
		return errf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", ns)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Providers[l] != "Registered" {
		s.st.Providers[l] = "Registering"
		s.st.ProviderRegisteredAt[l] = s.nowLocked().Add(3 * time.Second)
		_ = s.saveLocked()
	}
	writeJSON(w, http.StatusOK, s.providerBody(ns))
	return nil
}

// SetProviderState sets a namespace's registration state (admin/test hook).
func (s *Server) SetProviderState(ns, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Providers[strings.ToLower(ns)] = state
	_ = s.saveLocked()
}
