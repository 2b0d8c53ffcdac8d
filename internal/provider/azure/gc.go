package azure

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/mngr-azure/mngr/internal/core"
)

// gcMinAge protects in-flight creates: nothing younger is collected.
const gcMinAge = 240 * time.Second

// gcAbandonedAge is how old a VM that never got an agent must be before gc
// takes it for the remains of an interrupted create (mngr killed between
// the VM and its first agent). It is far above the longest create mngr
// waits for (boot, cloud-init, docker install and an image build), so a
// create still in flight is never collected.
const gcAbandonedAge = 30 * time.Minute

// oldEnough reports whether a resource's mngr-created-at tag is at least
// gcMinAge before now.
func oldEnough(tags map[string]*string, now time.Time) bool {
	return olderThan(tags, now, gcMinAge)
}

func olderThan(tags map[string]*string, now time.Time, age time.Duration) bool {
	ts := parseUnix(tagValue(tags, tagCreatedAt))
	return ts > 0 && now.Sub(time.Unix(ts, 0)) >= age
}

// withoutAgents reports whether a VM's tags mirror no agent at all; tags
// that do not decode count as agents (gc never deletes when unsure).
func withoutAgents(tags map[string]*string) bool {
	plain := make(map[string]string, len(tags))
	for k, v := range tags {
		if v != nil {
			plain[k] = *v
		}
	}
	recs, _, err := decodeAgentTags(plain)
	return err == nil && len(recs) == 0
}

// garbageVM says why gc removes a VM of this provider, or "" to keep it.
// alive says whether a process of this machine lives (processAlive): a VM
// that never got an agent, made by a mngr process of this machine that has
// ended, is the remains of an interrupted create and goes at once; other
// VMs without agents wait gcAbandonedAge (a create on another machine may
// still run, and a host that lost its agents is given time).
func garbageVM(tags map[string]*string, provisioning string, now time.Time, alive func(int) bool) string {
	pid, ended := createEnded(tags, alive)
	switch {
	case tagValue(tags, tagBuilder) != "" && ended && provisioning != "Creating":
		return fmt.Sprintf("mngr image builder VM of image %s: its bake (mngr process %d) has ended", tagValue(tags, tagBuilder), pid)
	case tagValue(tags, tagBuilder) != "" && olderThan(tags, now, gcAbandonedAge):
		return fmt.Sprintf("mngr image builder VM of image %s, 30 min after its creation", tagValue(tags, tagBuilder))
	case provisioning == "Failed" && ended:
		return fmt.Sprintf("mngr VM whose provisioning failed (its create, mngr process %d, has ended)", pid)
	case provisioning == "Failed" && oldEnough(tags, now):
		return "mngr VM whose provisioning failed"
	case provisioning == "Succeeded" && ended && neverHadAgent(tags):
		return fmt.Sprintf("mngr VM that never got an agent: its create (mngr process %d) ended before its first agent", pid)
	case provisioning == "Succeeded" && withoutAgents(tags) && olderThan(tags, now, gcAbandonedAge):
		return "mngr VM without any agent 30 min after its creation (an interrupted create, or its agents are gone)"
	}
	return ""
}

// looseReason says why gc removes a NIC or public IP attached to nothing,
// or "" to keep it: its create ended (as for VMs), or it is older than
// gcMinAge.
func looseReason(kind string, tags map[string]*string, now time.Time, alive func(int) bool) string {
	if pid, ended := createEnded(tags, alive); ended {
		return fmt.Sprintf("unattached mngr %s of an interrupted create (mngr process %d has ended)", kind, pid)
	}
	if oldEnough(tags, now) {
		return fmt.Sprintf("unattached mngr %s older than 240s", kind)
	}
	return ""
}

// serverNow is the clock gc ages resources by: the Date header of an ARM
// response (Resource Manager's own clock, the one reference every machine
// sharing the resource group agrees on), or the local clock when the
// response carries no usable Date.
func (c *Client) serverNow(resp *http.Response) time.Time {
	if resp != nil {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			return t
		}
	}
	return c.now()
}

func (c *Client) ours(tags map[string]*string) bool {
	return tagValue(tags, tagManagedBy) == tagManagedByMngr && tagValue(tags, tagProvider) == c.providerName
}

// CollectGarbage removes this provider's VMs whose provisioning failed (after
// 240 s) or that have no agent (after 30 min), then unattached mngr NICs and
// public IPs older than 240 s; the remains of a create whose mngr process
// ran on this machine and has ended (interrupted) go at once — ages by the
// clock of the ARM server that answered the list (see serverNow). The NIC
// and IP of a collected VM go in the same run once it is gone.
func (c *Client) CollectGarbage(ctx context.Context, dryRun bool) ([]core.GCItem, error) {
	var items []core.GCItem
	var listResp *http.Response
	vp := c.vms.NewListPager(c.cfg.ResourceGroup, nil)
	for vp.More() {
		page, err := vp.NextPage(policy.WithCaptureResponse(ctx, &listResp))
		if isNotFound(err) {
			return nil, c.missingScope(err, "list vms")
		}
		if err != nil {
			return items, classify(err, "list vms", c.cfg.DefaultRegion, "")
		}
		now := c.serverNow(listResp)
		for _, vm := range page.Value {
			if vm == nil || !c.ours(vm.Tags) || vm.Properties == nil {
				continue
			}
			reason := garbageVM(vm.Tags, deref(vm.Properties.ProvisioningState), now, c.isAlive)
			if reason == "" {
				continue
			}
			it := core.GCItem{Kind: "virtual-machine", Name: deref(vm.Name), ID: deref(vm.ID), Reason: reason}
			if !dryRun {
				if _, err := awaitLRO(ctx, c, "", c.deleteVMBegin(ctx, it.Name), goneIsDone); err != nil {
					it.Error = err.Error()
				} else {
					it.Done = true
				}
			}
			items = append(items, it)
		}
	}
	np := c.nics.NewListPager(c.cfg.ResourceGroup, nil)
	for np.More() {
		page, err := np.NextPage(policy.WithCaptureResponse(ctx, &listResp))
		if isNotFound(err) {
			return nil, c.missingScope(err, "list nics")
		}
		if err != nil {
			return items, classify(err, "list nics", c.cfg.DefaultRegion, "")
		}
		now := c.serverNow(listResp)
		for _, n := range page.Value {
			if n == nil || !c.ours(n.Tags) || (n.Properties != nil && n.Properties.VirtualMachine != nil) {
				continue
			}
			reason := looseReason("NIC", n.Tags, now, c.isAlive)
			if reason == "" {
				continue
			}
			it := core.GCItem{Kind: "network-interface", Name: deref(n.Name), ID: deref(n.ID), Reason: reason}
			if !dryRun {
				if err := c.deleteNIC(ctx, it.Name); err != nil {
					it.Error = err.Error()
					if errorCode(err) == "NicReservedForAnotherVm" {
						it.Error = "reserved by Azure for a failed VM; retried on the next gc"
					}
				} else {
					it.Done = true
				}
			}
			items = append(items, it)
		}
	}
	ip := c.ips.NewListPager(c.cfg.ResourceGroup, nil)
	for ip.More() {
		page, err := ip.NextPage(policy.WithCaptureResponse(ctx, &listResp))
		if err != nil {
			return items, classify(err, "list public ips", c.cfg.DefaultRegion, "")
		}
		now := c.serverNow(listResp)
		for _, p := range page.Value {
			if p == nil || !c.ours(p.Tags) || (p.Properties != nil && p.Properties.IPConfiguration != nil) {
				continue
			}
			reason := looseReason("public IP", p.Tags, now, c.isAlive)
			if reason == "" {
				continue
			}
			it := core.GCItem{Kind: "public-ip", Name: deref(p.Name), ID: deref(p.ID), Reason: reason}
			if !dryRun {
				if err := c.deleteIP(ctx, it.Name); err != nil {
					it.Error = err.Error()
				} else {
					it.Done = true
				}
			}
			items = append(items, it)
		}
	}
	return items, nil
}
