package azure

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/mngr-azure/mngr/internal/core"
)

// Preflight checks read-only that the prepared subnet exists.
func (c *Client) Preflight(ctx context.Context) error {
	_, err := c.subnets.Get(ctx, c.cfg.ResourceGroup, c.cfg.VnetName, c.cfg.SubnetName, nil)
	// A wrong subscription is also a 404; say that, not "subnet not found".
	if code := errorCode(err); isNotFound(err) && code != "SubscriptionNotFound" && code != "InvalidSubscriptionId" {
		return core.WithHint(fmt.Errorf("subnet %s/%s in resource group %q not found: %w", c.cfg.VnetName, c.cfg.SubnetName, c.cfg.ResourceGroup, core.ErrUnavailable),
			"run: mngr azure prepare --provider %s", c.providerName)
	}
	return classify(err, "get subnet "+c.cfg.SubnetName, c.cfg.DefaultRegion, "")
}

func (c *Client) subnetID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s",
		c.subscription, c.cfg.ResourceGroup, c.cfg.VnetName, c.cfg.SubnetName)
}

// cleanupNetwork deletes a failed create's NIC then public IP and reports
// whether both are gone; a NIC Azure still reserves for the would-be VM is
// left for gc.
func (c *Client) cleanupNetwork(ctx context.Context, name string, nicCreated bool) bool {
	prog := core.ProgressFrom(ctx)
	if nicCreated {
		if err := c.deleteNIC(ctx, nicName(name)); err != nil {
			if errorCode(err) == "NicReservedForAnotherVm" {
				prog.Warn(fmt.Sprintf("network interface %s and public IP %s are reserved by Azure for a few minutes; `mngr gc` will remove them", nicName(name), ipName(name)))
				return false
			}
			prog.Warn(fmt.Sprintf("could not delete network interface %s (`mngr gc` will retry): %v", nicName(name), err))
			return false
		}
	}
	if c.cfg.PublicIP() {
		if err := c.deleteIP(ctx, ipName(name)); err != nil {
			prog.Warn(fmt.Sprintf("could not delete public IP %s (`mngr gc` will retry): %v", ipName(name), err))
			return false
		}
	}
	return true
}

// deleteNIC deletes a NIC; one already gone is no error.
func (c *Client) deleteNIC(ctx context.Context, name string) error {
	_, err := awaitLRO(ctx, c, "", func() (*runtime.Poller[armnetwork.InterfacesClientDeleteResponse], error) {
		return c.nics.BeginDelete(ctx, c.cfg.ResourceGroup, name, nil)
	}, goneIsDone)
	return err
}

// deleteIP deletes a public IP; one already gone is no error.
func (c *Client) deleteIP(ctx context.Context, name string) error {
	_, err := awaitLRO(ctx, c, "", func() (*runtime.Poller[armnetwork.PublicIPAddressesClientDeleteResponse], error) {
		return c.ips.BeginDelete(ctx, c.cfg.ResourceGroup, name, nil)
	}, goneIsDone)
	return err
}

// publicIPsByHost maps host ids to public addresses from ONE list of the group's IPs.
func (c *Client) publicIPsByHost(ctx context.Context) (map[string]string, error) {
	ips := map[string]string{}
	p := c.ips.NewListPager(c.cfg.ResourceGroup, nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify(err, "list public ips in "+c.cfg.ResourceGroup, c.cfg.DefaultRegion, "")
		}
		for _, ip := range page.Value {
			if ip == nil || ip.Properties == nil || ip.Properties.IPAddress == nil {
				continue
			}
			if h := tagValue(ip.Tags, tagHostID); h != "" {
				ips[h] = *ip.Properties.IPAddress
			}
		}
	}
	return ips, nil
}
