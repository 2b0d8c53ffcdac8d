package arm

import (
	"net/http"
	"testing"
)

func TestResourceScopeAndAction(t *testing.T) {
	rg := "/subscriptions/s/resourceGroups/rg"
	vmKind := kinds["microsoft.compute/virtualmachines"]
	vnetKind := kinds["microsoft.network/virtualnetworks"]
	if vmKind == nil || vnetKind == nil {
		t.Fatal("kinds table lacks virtualMachines or virtualNetworks")
	}
	cases := []struct {
		k          *kind
		method     string
		rest       []string
		scope, act string
	}{
		{vmKind, http.MethodGet, []string{"virtualMachines"}, rg, "Microsoft.Compute/virtualMachines/read"},
		{vmKind, http.MethodPut, []string{"virtualMachines", "vm1"}, rg + "/providers/Microsoft.Compute/virtualMachines/vm1", "Microsoft.Compute/virtualMachines/write"},
		{vmKind, http.MethodPost, []string{"virtualMachines", "vm1", "deallocate"}, rg + "/providers/Microsoft.Compute/virtualMachines/vm1", "Microsoft.Compute/virtualMachines/deallocate/action"},
		{vmKind, http.MethodGet, []string{"virtualMachines", "vm1", "instanceView"}, rg + "/providers/Microsoft.Compute/virtualMachines/vm1", "Microsoft.Compute/virtualMachines/read"},
		{vnetKind, http.MethodPut, []string{"virtualNetworks", "v", "subnets", "default"}, rg + "/providers/Microsoft.Network/virtualNetworks/v", "Microsoft.Network/virtualNetworks/subnets/write"},
	}
	for _, c := range cases {
		if got := resourceScope(rg, c.k.typ, c.rest); got != c.scope {
			t.Errorf("%s %v: scope %q, want %q", c.method, c.rest, got, c.scope)
		}
		if got := resourceAction(c.k, c.method, c.rest); got != c.act {
			t.Errorf("%s %v: action %q, want %q", c.method, c.rest, got, c.act)
		}
	}
}
