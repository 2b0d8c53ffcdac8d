package azsim_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var stressDuration = flag.Duration("azsim.stress", 0, "duration of the concurrency test (default 30s, 5s with -short; env AZSIM_STRESS_SECONDS)")

func stressFor() time.Duration {
	if *stressDuration > 0 {
		return *stressDuration
	}
	if v, err := strconv.Atoi(os.Getenv("AZSIM_STRESS_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// TestConcurrentClients runs 20 clients creating and deleting whole stacks
// (rg, nsg, vnet, ip, nic, vm) in parallel, then checks that exactly the
// stacks each client kept exist and nothing else does.
func TestConcurrentClients(t *testing.T) {
	s := startSim(t, "")
	c := newClients(t, s)
	ctx := context.Background()
	deadline := time.Now().Add(stressFor())
	const clients = 20
	kept := make([][]string, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000 && time.Now().Before(deadline); i++ {
				rg := fmt.Sprintf("stress-%d-%d", w, i)
				if err := c.stack(ctx, rg); err != nil {
					errs <- fmt.Errorf("client %d iteration %d: %w", w, i, err)
					return
				}
				if i%3 == 2 {
					// Kept stacks are deallocated so they hold no vCPU quota.
					p, err := c.vm.BeginDeallocate(ctx, rg, "vm", nil)
					if err == nil {
						_, err = p.PollUntilDone(ctx, poll)
					}
					if err != nil {
						errs <- fmt.Errorf("client %d deallocate %s: %w", w, rg, err)
						return
					}
					kept[w] = append(kept[w], rg)
					continue
				}
				p, err := c.rg.BeginDelete(ctx, rg, nil)
				if err == nil {
					_, err = p.PollUntilDone(ctx, poll)
				}
				if err != nil {
					errs <- fmt.Errorf("client %d delete %s: %w", w, rg, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []string
	for _, k := range kept {
		want = append(want, k...)
	}
	sort.Strings(want)
	var got []string
	pager := c.rg.NewListPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.Value {
			got = append(got, *g.Name)
		}
	}
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("resource groups (-want +got):\n%s", d)
	}
	var state struct {
		Resources map[string]int `json:"resources"`
	}
	s.admin(t, "GET", "/state", "", &state)
	n := len(want)
	wantCounts := map[string]int{}
	if n > 0 {
		wantCounts = map[string]int{
			"Microsoft.Resources/resourceGroups": n, "Microsoft.Network/networkSecurityGroups": n, "Microsoft.Network/virtualNetworks": n,
			"Microsoft.Network/virtualNetworks/subnets": n, "Microsoft.Network/publicIPAddresses": n, "Microsoft.Network/networkInterfaces": n,
			"Microsoft.Compute/virtualMachines": n, "Microsoft.Compute/disks": n,
		}
	}
	if d := cmp.Diff(wantCounts, state.Resources); d != "" {
		t.Errorf("resource counts (-want +got):\n%s", d)
	}
	for _, rg := range want {
		v, err := c.vm.Get(ctx, rg, "vm", nil)
		if err != nil {
			t.Errorf("vm in %s: %v", rg, err)
			continue
		}
		if _, err := c.nic.Get(ctx, rg, "s-nic", nil); err != nil {
			t.Errorf("nic of %s: %v", *v.ID, err)
		}
	}
	t.Logf("%d stacks kept after %s", n, stressFor())
}

// stack creates a whole host stack in rg.
func (c *clients) stack(ctx context.Context, rg string) error {
	nicID, _, err := c.networkErr(ctx, rg, "s")
	if err != nil {
		return err
	}
	p, err := c.vm.BeginCreateOrUpdate(ctx, rg, "vm", vmParams(nicID, "Standard_B1s"), nil)
	if err != nil {
		return fmt.Errorf("create vm: %w", err)
	}
	if _, err := p.PollUntilDone(ctx, poll); err != nil {
		return fmt.Errorf("poll vm: %w", err)
	}
	return nil
}
