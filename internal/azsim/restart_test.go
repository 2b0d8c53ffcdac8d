package azsim_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/azsim"
)

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, dir)
	c := newClients(t, s)
	ctx := context.Background()
	nicID, _ := c.network(ctx, t, "rg1", "r1")
	p, err := c.vm.BeginCreateOrUpdate(ctx, "rg1", "vm1", vmParams(nicID, "Standard_B2s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := p.PollUntilDone(ctx, poll)
	if err != nil {
		t.Fatal(err)
	}
	var st1 map[string]any
	s.admin(t, "GET", "/state", "", &st1)
	s.stop()

	s2 := startSim(t, dir)
	if s2.ep.SubscriptionID != s.ep.SubscriptionID || s2.ep.ClientSecret != s.ep.ClientSecret {
		t.Fatal("identity changed across restart")
	}
	c2 := newClients(t, s2)
	after, err := c2.vm.Get(ctx, "rg1", "vm1", nil)
	if err != nil {
		t.Fatalf("vm after restart: %v", err)
	}
	if d := cmp.Diff(*before.Properties.VMID, *after.Properties.VMID); d != "" {
		t.Errorf("vm id changed (-before +after):\n%s", d)
	}
	if _, err := c2.subnetOK(ctx, "rg1", "r1-vnet"); err != nil {
		t.Errorf("subnet after restart: %v", err)
	}
	var st2 map[string]any
	s2.admin(t, "GET", "/state", "", &st2)
	if d := cmp.Diff(st1["resources"], st2["resources"]); d != "" {
		t.Errorf("resource counts changed (-before +after):\n%s", d)
	}
}

func (c *clients) subnetOK(ctx context.Context, rg, vnet string) (string, error) {
	sn, err := c.sub.Get(ctx, rg, vnet, "default", nil)
	if err != nil {
		return "", err
	}
	return *sn.ID, nil
}

// A second azsim on a data dir one serves is refused, naming the first
// one's pid, and leaves the running server's files alone (Reset included);
// once the first stops, the dir is free again.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	s := startSim(t, dir)
	before, err := os.ReadFile(filepath.Join(dir, "endpoint.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, reset := range []bool{false, true} {
		err := azsim.Run(context.Background(), azsim.Options{DataDir: dir, Reset: reset, Listen: "127.0.0.1:0"})
		if !errors.Is(err, azsim.ErrDataDirBusy) || !strings.Contains(err.Error(), fmt.Sprintf("azsim pid %d", os.Getpid())) {
			t.Fatalf("second azsim (reset %v): %v, want refused naming pid %d", reset, err, os.Getpid())
		}
		after, err := os.ReadFile(filepath.Join(dir, "endpoint.json"))
		if err != nil || string(after) != string(before) {
			t.Fatalf("the running azsim's endpoint.json after a refused start (reset %v): %q, %v", reset, after, err)
		}
		for _, f := range []string{"identity.json", "arm.sock"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s after a refused start: %v", f, err)
			}
		}
	}
	var st map[string]any
	s.admin(t, "GET", "/state", "", &st) // the first one still answers
	s.stop()
	startSim(t, dir).stop()
}
