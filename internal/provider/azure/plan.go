package azure

import (
	"context"
	"fmt"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

var _ vps.InstancePlanner = (*Client)(nil)

// Resource types a create makes.
const (
	typePublicIP = "Microsoft.Network/publicIPAddresses"
	typeNIC      = "Microsoft.Network/networkInterfaces"
	typeVM       = "Microsoft.Compute/virtualMachines"
	typeDisk     = "Microsoft.Compute/disks"
)

// PlanInstance describes what CreateInstance would create for req, for the
// first candidate that the read-only checks do not skip, with its price
// estimate and the failover order. It makes no ARM write; it reads only
// what CreateInstance reads before its first write (the vnet's region when
// the candidates span regions, the SKU list of the image generation check,
// and usages with capacity_precheck).
func (c *Client) PlanInstance(ctx context.Context, req vps.CreateInstanceRequest) (vps.InstancePlan, error) {
	cands := candidates(req.ProviderArgs, c.cfg)
	skips, err := c.skipReasons(ctx, cands, req.ProviderArgs.Spot)
	if err != nil {
		return vps.InstancePlan{}, err
	}
	var plan vps.InstancePlan
	if note := spotDefaultNote(req.ProviderArgs, c.cfg); note != "" {
		plan.Notes = append(plan.Notes, note)
	}
	first := -1
	var order []string
	for i, cd := range cands {
		label := fmt.Sprintf("%d. %s in %s", i+1, cd.size, cd.region)
		if sk, ok := skips[cd]; ok {
			label += " (skipped: " + sk.reason + ")"
		} else if first < 0 {
			first = i
		}
		order = append(order, label)
	}
	if len(cands) > 1 {
		plan.Notes = append(plan.Notes, "candidates, tried in this order until one has capacity and quota: "+strings.Join(order, "; "))
	} else if first < 0 {
		plan.Notes = append(plan.Notes, "the only candidate would be skipped: "+order[0])
	}
	if first < 0 {
		plan.Notes = append(plan.Notes, "every candidate would be skipped; a real create would fail before any write")
		if sk := skips[cands[len(cands)-1]]; sk.hint != "" {
			plan.Notes = append(plan.Notes, "next step: "+sk.hint)
		}
		first = 0
	}
	cd := cands[first]
	name := vmName(req.HostName, req.HostID)
	tags := map[string]string{}
	for k, v := range c.baseTags(req) {
		tags[k] = deref(v)
	}
	if c.cfg.PublicIP() {
		plan.Resources = append(plan.Resources, plannedResource(typePublicIP, ipName(name), cd.region, tags))
	}
	plan.Resources = append(plan.Resources, plannedResource(typeNIC, nicName(name), cd.region, tags))
	vm := plannedResource(typeVM, name, cd.region, tags)
	vm.Size, vm.Spot = cd.size, req.ProviderArgs.Spot
	plan.Resources = append(plan.Resources,
		vm,
		plannedResource(typeDisk, name+"_OsDisk (named by Azure, created and deleted with the VM)", cd.region, nil),
	)
	est := estimatePrice(cd.size, cd.region, req.ProviderArgs.Spot)
	plan.Estimate = est.String()
	if est.known {
		h := est.hourly
		plan.HourlyUSD = &h
	}
	return plan, nil
}

func plannedResource(typ, name, region string, tags map[string]string) core.PlannedResource {
	return core.PlannedResource{Type: typ, Name: name, Region: region, Tags: tags}
}
