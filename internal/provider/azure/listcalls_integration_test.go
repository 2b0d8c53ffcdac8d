//go:build azsim

package azure

import (
	"fmt"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// A listing as `mngr list` does it — the provider's hosts, then a
// connection to each running one — makes the same ARM requests for one
// host as for five.
func TestListThenConnectARMRequestsDoNotGrow(t *testing.T) {
	e := newFaultEnv(t) // its own azsim, trusted through the transport
	c, dir := e.c, e.dir
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p, err := vps.NewProvider(c, vps.Config{ProviderName: "azure", LocalHostDir: t.TempDir(), SkipHostSetup: true})
	if err != nil {
		t.Fatal(err)
	}
	listing := func() int {
		before := armCalls(t, dir)
		hosts, err := p.ListHosts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			if h.State == core.HostRunning {
				if _, err := p.ConnectHost(ctx, h.ID); err != nil {
					t.Fatalf("connect %s: %v", h.Name, err)
				}
			}
		}
		return armCalls(t, dir) - before
	}
	for i := range 5 {
		if _, err := p.CreateHost(ctx, core.CreateHostRequest{Name: fmt.Sprintf("lc-%d", i)}); err != nil {
			t.Fatalf("create host %d: %v", i, err)
		}
		if i == 0 {
			if one := listing(); one > 3 {
				t.Errorf("listing one host made %d ARM requests, want at most 3", one)
			}
		}
	}
	five := listing()
	if five > 3 {
		t.Errorf("listing five running hosts made %d ARM requests, want at most 3 (no lookup per host)", five)
	}
	t.Logf("ARM requests for list + connect of 5 running hosts: %d", five)
}
