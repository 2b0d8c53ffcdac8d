package azure

// roleName is the least-privilege custom role a VM uses to deallocate itself.
const roleName = "mngr-self-deallocate"

// roleActions are the only actions of the self-deallocate role.
var roleActions = []string{"Microsoft.Compute/virtualMachines/deallocate/action", "Microsoft.Compute/virtualMachines/read"}

// roleDefinitionGUID is the deterministic id of the role in a subscription.
func roleDefinitionGUID(subscription string) string { return deterministicGUID(subscription, roleName) }
