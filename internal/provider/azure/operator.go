package azure

import (
	"encoding/json"
	"fmt"
)

// operatorRoleName is the custom role the credential of daily commands
// needs on the resource group, and nothing more.
const operatorRoleName = "mngr-operator"

// OperatorActions are exactly the ARM actions mngr's daily commands
// (create, list, stop, start, destroy, gc) perform in the resource group,
// derived from the calls this package makes: none of them writes a role
// or a role assignment. docs/azure.md lists them (a test keeps the two
// equal); message, exec and connect go over SSH and need no ARM action.
var OperatorActions = []string{
	// list, and create's and gc's reads of what they made
	"Microsoft.Compute/virtualMachines/read",
	"Microsoft.Compute/virtualMachines/instanceView/read",
	// create (and gc's and a failed create's delete of a VM)
	"Microsoft.Compute/virtualMachines/write",
	"Microsoft.Compute/virtualMachines/delete",
	// stop and start
	"Microsoft.Compute/virtualMachines/deallocate/action",
	"Microsoft.Compute/virtualMachines/start/action",
	// the OS disk made and deleted with the VM
	"Microsoft.Compute/disks/write",
	"Microsoft.Compute/disks/delete",
	// capacity_precheck, the capacity hint and size checks
	"Microsoft.Compute/galleries/read",
	"Microsoft.Compute/galleries/images/read",
	"Microsoft.Compute/galleries/images/versions/read",
	"Microsoft.Compute/skus/read",
	"Microsoft.Compute/locations/usages/read",
	// polls of create, stop, start and delete
	"Microsoft.Compute/locations/operations/read",
	"Microsoft.Network/locations/operations/read",
	// the host's public IP and NIC
	"Microsoft.Network/publicIPAddresses/read",
	"Microsoft.Network/publicIPAddresses/write",
	"Microsoft.Network/publicIPAddresses/delete",
	"Microsoft.Network/publicIPAddresses/join/action",
	"Microsoft.Network/networkInterfaces/read",
	"Microsoft.Network/networkInterfaces/write",
	"Microsoft.Network/networkInterfaces/delete",
	"Microsoft.Network/networkInterfaces/join/action",
	// the prepared vnet (its region) and subnet (the NIC joins it)
	"Microsoft.Network/virtualNetworks/read",
	"Microsoft.Network/virtualNetworks/subnets/read",
	"Microsoft.Network/virtualNetworks/subnets/join/action",
	// the agent mirror and the self-deallocate tag on a VM
	"Microsoft.Resources/tags/write",
	// the prepared identity a new VM is given (no role assignment)
	"Microsoft.ManagedIdentity/userAssignedIdentities/read",
	"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
}

// operatorRole is the custom role prepare creates for daily commands.
var operatorRole = customRole{
	name:        operatorRoleName,
	description: "What mngr's daily commands (create, list, stop, start, destroy, gc) do in its resource group; no role or role assignment writes.",
	actions:     OperatorActions,
}

// OperatorRoleJSON renders the mngr operator role for the resource group
// as `az role definition create --role-definition @file` reads it, for an
// administrator to create it by hand (mngr azure prepare --print-role).
func (c *Client) OperatorRoleJSON() ([]byte, error) {
	def := map[string]any{
		"Name":             operatorRole.name,
		"IsCustom":         true,
		"Description":      operatorRole.description,
		"Actions":          operatorRole.actions,
		"NotActions":       []string{},
		"DataActions":      []string{},
		"NotDataActions":   []string{},
		"AssignableScopes": []string{c.rgScope()},
	}
	b, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render role %s: %w", operatorRole.name, err)
	}
	return append(b, '\n'), nil
}

// rgScope is the resource group's id, the scope of mngr's roles.
func (c *Client) rgScope() string {
	return "/subscriptions/" + c.subscription + "/resourceGroups/" + c.cfg.ResourceGroup
}
