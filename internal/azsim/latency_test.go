package azsim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/azsim"
)

func TestRealisticLatencyLRO(t *testing.T) {
	s := startSimOpts(t, azsim.Options{Latency: 1})
	tok := "Bearer " + s.token(t)
	sub := "/subscriptions/" + s.ep.SubscriptionID
	if st, _, m := s.raw(t, http.MethodPut, sub+"/resourcegroups/rg1?api-version=2025-04-01", tok, `{"location":"westus"}`); st != 201 {
		t.Fatalf("create rg: %d %v", st, m)
	}
	st, h, m := s.raw(t, http.MethodPut, sub+"/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/n1?api-version=2025-05-01", tok, `{"location":"westus"}`)
	if st != 201 || h.Get("Azure-AsyncOperation") == "" || h.Get("Location") == "" || h.Get("Retry-After") != "1" {
		t.Fatalf("create nsg: %d %v %v", st, h, m)
	}
	opPath := strings.TrimPrefix(h.Get("Azure-AsyncOperation"), s.ep.ARM)
	status := func() string {
		t.Helper()
		_, _, m := s.raw(t, http.MethodGet, opPath, tok, "")
		v, _ := m["status"].(string)
		return v
	}
	if got := status(); got != "InProgress" {
		t.Fatalf("status = %q, want InProgress", got)
	}
	s.admin(t, http.MethodPost, "/clock", `{"advance_seconds":11}`, nil)
	if got := status(); got != "Succeeded" {
		t.Fatalf("status after 11s = %q, want Succeeded", got)
	}
}
