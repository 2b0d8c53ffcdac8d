package openapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	sub   = "/subscriptions/00000000-0000-0000-0000-000000000000"
	rg    = sub + "/resourceGroups/mngr"
	netRP = rg + "/providers/Microsoft.Network"
	vmID  = rg + "/providers/Microsoft.Compute/virtualMachines/mngr-a-1"
)

// TestEmbeddedOperations checks, for every operation mngr calls with a body,
// that a body shaped like mngr's validates and that a body with typical
// mistakes gives exactly the expected findings; and that each logged request
// shape maps to its operation at the api-version the SDK sends.
func TestEmbeddedOperations(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op, method, path, api string
		good, bad             string
		want                  []string // "rule at path" for bad
	}{
		{
			op: "NetworkSecurityGroups_CreateOrUpdate", method: "PUT", path: netRP + "/networkSecurityGroups/mngr-nsg", api: "2025-05-01",
			good: `{"location":"westus","tags":{"managed-by":"mngr"},"properties":{"securityRules":[
			  {"name":"mngr-allow-ssh","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound","priority":1000,
			    "sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"22","sourceAddressPrefix":"203.0.113.0/24"}},
			  {"name":"mngr-allow-container-ssh","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound","priority":1010,
			    "sourcePortRange":"*","destinationAddressPrefix":"*","destinationPortRange":"2222","sourceAddressPrefixes":["203.0.113.0/24","198.51.100.7/32"]}}]}}`,
			bad: `{"location":"westus","etag":"W/1","properties":{"securityRules":[
			  {"name":"r","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound","priority":"1000","provisioningState":"Succeeded"}},
			  {"name":"s","properties":{"protocol":"Tcp","access":"Allow","direction":"Inbound"}}]}}`,
			want: []string{"readOnly at etag", "type at properties.securityRules[0].properties.priority",
				"readOnly at properties.securityRules[0].properties.provisioningState", "required at properties.securityRules[1].properties.priority"},
		},
		{
			op: "VirtualNetworks_CreateOrUpdate", method: "PUT", path: netRP + "/virtualNetworks/mngr-vnet", api: "2025-05-01",
			good: `{"location":"westus","tags":{"managed-by":"mngr"},"properties":{"addressSpace":{"addressPrefixes":["10.42.0.0/16"]},
			  "subnets":[{"name":"mngr-subnet","properties":{"addressPrefix":"10.42.0.0/24","networkSecurityGroup":{"id":"` + netRP + `/networkSecurityGroups/mngr-nsg"}}}]}}`,
			bad: `{"location":"westus","properties":{"addressSpace":{"addressPrefixes":"10.42.0.0/16"},"bgpCommunities":{},
			  "subnets":[{"name":"s","properties":{"addressPrefix":"10.42.0.0/24","routeTable":{"id":"/rt"}}}]}}`,
			want: []string{"type at properties.addressSpace.addressPrefixes", "required at properties.bgpCommunities.virtualNetworkCommunity",
				"notVendored at properties.subnets[0].properties.routeTable"},
		},
		{
			op: "Subnets_CreateOrUpdate", method: "PUT", path: netRP + "/virtualNetworks/mngr-vnet/subnets/mngr-subnet", api: "2025-05-01",
			good: `{"name":"mngr-subnet","properties":{"addressPrefix":"10.42.0.0/24","networkSecurityGroup":{"id":"` + netRP + `/networkSecurityGroups/mngr-nsg"}}}`,
			bad:  `{"name":"mngr-subnet","properties":{"adressPrefix":"10.42.0.0/24","purpose":"x","ipConfigurations":[]}}`,
			want: []string{"unknown at properties.adressPrefix", "readOnly at properties.ipConfigurations", "readOnly at properties.purpose"},
		},
		{
			op: "PublicIPAddresses_CreateOrUpdate", method: "PUT", path: netRP + "/publicIPAddresses/mngr-a-1-ip", api: "2025-05-01",
			good: `{"location":"westus","tags":{"managed-by":"mngr"},"sku":{"name":"Standard"},
			  "properties":{"publicIPAllocationMethod":"Static","publicIPAddressVersion":"IPv4"}}`,
			bad: `{"location":"westus","sku":{"name":"Standard"},"properties":{"publicIPAllocationMethod":5,
			  "dnsSettings":{"domainNameLabelScope":"Bogus"},"provisioningState":"Succeeded","idleTimeoutInMinutes":4.5}}`,
			want: []string{"enum at properties.dnsSettings.domainNameLabelScope", "type at properties.idleTimeoutInMinutes",
				"readOnly at properties.provisioningState", "type at properties.publicIPAllocationMethod"},
		},
		{
			op: "NetworkInterfaces_CreateOrUpdate", method: "PUT", path: netRP + "/networkInterfaces/mngr-a-1-nic", api: "2025-05-01",
			good: `{"location":"westus","tags":{"managed-by":"mngr"},"properties":{"ipConfigurations":[{"name":"ipconfig1","properties":{
			  "subnet":{"id":"` + netRP + `/virtualNetworks/mngr-vnet/subnets/mngr-subnet"},"privateIPAllocationMethod":"Dynamic","primary":true,
			  "publicIPAddress":{"id":"` + netRP + `/publicIPAddresses/mngr-a-1-ip","properties":{"deleteOption":"Delete"}}}}]}}`,
			bad: `{"location":"westus","properties":{"macAddress":"00-0D-3A-00-00-01","ipConfigurations":[{"name":"ipconfig1","properties":{
			  "privateIPAddressPrefixLength":200,"publicIPAddress":{"id":"/ip","properties":{"ipConfiguration":{"id":"/x"}}}}}]}}`,
			want: []string{"range at properties.ipConfigurations[0].properties.privateIPAddressPrefixLength",
				"readOnly at properties.ipConfigurations[0].properties.publicIPAddress.properties.ipConfiguration", "readOnly at properties.macAddress"},
		},
		{
			op: "ResourceGroups_CreateOrUpdate", method: "PUT", path: sub + "/resourcegroups/mngr", api: "2025-04-01",
			good: `{"location":"westus","tags":{"managed-by":"mngr","mngr-provider":"azure"}}`,
			bad:  `{"tags":{"managed-by":1},"properties":{"provisioningState":"Succeeded"}}`,
			want: []string{"required at location", "readOnly at properties.provisioningState", "type at tags.managed-by"},
		},
		{
			op: "Tags_UpdateAtScope", method: "PATCH", path: vmID + "/providers/Microsoft.Resources/tags/default", api: "2025-04-01",
			good: `{"operation":"Merge","properties":{"tags":{"mngr-agents-0":"v1t:abc"}}}`,
			bad:  `{"operation":"Merge","id":"/x","properties":{"tags":{"mngr-agents-0":1}}}`,
			want: []string{"unknown at id", "type at properties.tags.mngr-agents-0"},
		},
		{
			op: "RoleDefinitions_CreateOrUpdate", method: "PUT", path: sub + "/providers/Microsoft.Authorization/roleDefinitions/3f2504e0-4f89-11d3-9a0c-0305e82c3301", api: "2022-04-01",
			good: `{"properties":{"roleName":"mngr self-deallocate","description":"d","type":"CustomRole",
			  "permissions":[{"actions":["Microsoft.Compute/virtualMachines/read","Microsoft.Compute/virtualMachines/deallocate/action"]}],
			  "assignableScopes":["` + rg + `"]}}`,
			bad:  `{"id":"/x","properties":{"roleName":"r","roleType":"CustomRole","permissions":[{"actions":"a"}]}}`,
			want: []string{"readOnly at id", "type at properties.permissions[0].actions", "unknown at properties.roleType"},
		},
		{
			op: "RoleAssignments_Create", method: "PUT", path: vmID + "/providers/Microsoft.Authorization/roleAssignments/3f2504e0-4f89-11d3-9a0c-0305e82c3301", api: "2022-04-01",
			good: `{"properties":{"roleDefinitionId":"` + sub + `/providers/Microsoft.Authorization/roleDefinitions/3f2504e0-4f89-11d3-9a0c-0305e82c3302",
			  "principalId":"11111111-1111-1111-1111-111111111111","principalType":"ServicePrincipal"}}`,
			bad:  `{"properties":{"principalId":"p","scope":"/x","createdOn":"2026-01-01T00:00:00Z"}}`,
			want: []string{"readOnly at properties.createdOn", "required at properties.roleDefinitionId", "readOnly at properties.scope"},
		},
		{
			op: "Providers_Register", method: "POST", path: sub + "/providers/Microsoft.Compute/register", api: "2025-04-01",
			good: ``, bad: `{"thirdPartyProviderConsent":{"consentToAuthorization":"yes"}}`,
			want: []string{"type at thirdPartyProviderConsent.consentToAuthorization"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			op, ok := s.Find(tt.method, tt.path, tt.api)
			if !ok || op.ID != tt.op {
				t.Fatalf("Find(%s %s %s) = %v, want %s", tt.method, tt.path, tt.api, op, tt.op)
			}
			if f := op.Validate(tt.path, []byte(tt.good), nil); len(f) != 0 {
				t.Errorf("mngr-shaped body: %v", f)
			}
			got := []string{}
			for _, f := range op.Validate(tt.path, []byte(tt.bad), nil) {
				got = append(got, string(f.Rule)+" at "+f.Path)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("bad body findings (-want +got)\n%s", d)
			}
		})
	}
}

// TestEmbeddedPathParameters checks the resource group name pattern and
// length the resources document declares.
func TestEmbeddedPathParameters(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	long := ""
	for range 91 {
		long += "g"
	}
	for _, tt := range []struct {
		name string
		want []string
	}{
		{"mngr-rg_(1).x", nil},
		{"bad!name", []string{"pathParameter at resourceGroupName"}},
		{long, []string{"pathParameter at resourceGroupName"}},
	} {
		p := sub + "/resourcegroups/" + tt.name
		op, ok := s.Find("PUT", p, "2025-04-01")
		if !ok {
			t.Fatalf("PUT %s not found", p)
		}
		var got []string
		for _, f := range op.Validate(p, []byte(`{"location":"westus"}`), nil) {
			got = append(got, string(f.Rule)+" at "+f.Path)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.name, d)
		}
	}
}

// TestEmbeddedFind maps every request shape mngr sends, bodiless ones
// included, to its operation, and refuses other api-versions.
func TestEmbeddedFind(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ method, path, api, want string }{
		{"GET", sub + "/providers/Microsoft.Compute", "2025-04-01", "Providers_Get"},
		{"POST", sub + "/providers/Microsoft.Network/register", "2025-04-01", "Providers_Register"},
		{"GET", sub + "/resourcegroups/mngr", "2025-04-01", "ResourceGroups_Get"},
		{"DELETE", sub + "/resourceGroups/mngr", "2025-04-01", "ResourceGroups_Delete"},
		{"PATCH", sub + "/resourceGroups/mngr", "2025-04-01", "ResourceGroups_Update"},
		{"PATCH", sub + "/providers/Microsoft.Resources/tags/default", "2025-04-01", "Tags_UpdateAtScope"},
		{"GET", vmID + "/providers/Microsoft.Resources/tags/default", "2025-04-01", "Tags_GetAtScope"},
		{"GET", netRP + "/networkSecurityGroups/mngr-nsg", "2025-05-01", "NetworkSecurityGroups_Get"},
		{"GET", netRP + "/virtualNetworks/mngr-vnet", "2025-05-01", "VirtualNetworks_Get"},
		{"GET", netRP + "/virtualNetworks/mngr-vnet/subnets/mngr-subnet", "2025-05-01", "Subnets_Get"},
		{"GET", netRP + "/publicIPAddresses", "2025-05-01", "PublicIPAddresses_List"},
		{"GET", netRP + "/publicIPAddresses/ip", "2025-05-01", "PublicIPAddresses_Get"},
		{"DELETE", netRP + "/publicIPAddresses/ip", "2025-05-01", "PublicIPAddresses_Delete"},
		{"GET", netRP + "/networkInterfaces", "2025-05-01", "NetworkInterfaces_List"},
		{"GET", netRP + "/networkInterfaces/nic", "2025-05-01", "NetworkInterfaces_Get"},
		{"DELETE", netRP + "/networkInterfaces/nic", "2025-05-01", "NetworkInterfaces_Delete"},
		{"GET", sub + "/providers/Microsoft.Authorization/roleDefinitions/r", "2022-04-01", "RoleDefinitions_Get"},
		{"GET", "/providers/Microsoft.Authorization/roleDefinitions", "2022-04-01", "RoleDefinitions_List"},
		{"GET", sub + "/providers/Microsoft.Authorization/roleDefinitions", "2022-04-01", "RoleDefinitions_List"},
		{"DELETE", sub + "/providers/Microsoft.Authorization/roleDefinitions/r", "2022-04-01", "RoleDefinitions_Delete"},
		{"GET", vmID + "/providers/Microsoft.Authorization/roleAssignments/a", "2022-04-01", "RoleAssignments_Get"},
		{"DELETE", vmID + "/providers/Microsoft.Authorization/roleAssignments/a", "2022-04-01", "RoleAssignments_Delete"},
		{"GET", sub + "/providers/Microsoft.Compute/skus", "2021-07-01", "ResourceSkus_List"},
		{"GET", sub + "/providers/Microsoft.Compute/locations/westus/usages", "2026-04-01", "Usage_List"},
		{"POST", vmID + "/deallocate", "2026-04-01", "VirtualMachines_Deallocate"},
		{"POST", vmID + "/start", "2026-04-01", "VirtualMachines_Start"},
		{"DELETE", vmID, "2026-04-01", "VirtualMachines_Delete"},
		{"PUT", netRP + "/networkSecurityGroups/mngr-nsg", "2024-05-01", ""},
		{"GET", sub + "/providers/Microsoft.Compute/skus", "2026-04-01", ""},
		{"PUT", sub + "/providers/Microsoft.Authorization/roleDefinitions", "2022-04-01", ""},
		{"GET", vmID + "/providers/Microsoft.Authorization/roleAssignments", "2022-04-01", ""},
		{"GET", sub + "/providers/Microsoft.Network/locations/westus/operations/1", "2025-05-01", ""},
	}
	for _, tt := range tests {
		op, ok := s.Find(tt.method, tt.path, tt.api)
		got := ""
		if ok {
			got = op.ID
			if op.HasBody() && tt.method != "PUT" && tt.method != "PATCH" && tt.method != "POST" {
				t.Errorf("%s declares a body", op.ID)
			}
		}
		if got != tt.want {
			t.Errorf("Find(%s %s %s) = %q, want %q", tt.method, tt.path, tt.api, got, tt.want)
		}
	}
}
