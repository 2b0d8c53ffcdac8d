package vps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func newSkipProvider(t *testing.T, client VpsClient) *Provider {
	t.Helper()
	p, err := NewProvider(client, Config{ProviderName: "fake", Backend: "fakecloud", LocalHostDir: t.TempDir(), SkipHostSetup: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewProviderDefaults(t *testing.T) {
	p, err := NewProvider(newFakeClient(""), Config{ProviderName: "azure-west", Backend: "azure", LocalHostDir: "/h"})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	got := []any{c.Prefix, c.KeyDir, c.HostDir, c.ContainerSSHPort, c.IdleTimeoutSeconds, c.SSHConnectTimeout.String(), c.CloudInitTimeout.String()}
	want := []any{"mngr-", "/h/providers/azure/azure-west/keys", "/mngr", 2222, 800, "1m0s", "5m0s"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("defaults (-want +got)\n%s", d)
	}
	for _, bad := range []Config{{}, {ProviderName: "x"}, {ProviderName: "x", LocalHostDir: "/h", ContainerSSHPort: 22}} {
		if _, err := NewProvider(newFakeClient(""), bad); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("NewProvider(%+v) = %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	var c Config
	c.ApplyEnv(func(k string) string {
		return map[string]string{"MNGR_VPS_SKIP_HOST_SETUP": "1", "MNGR_KEEP_FAILED_HOSTS": "1"}[k]
	})
	if !c.SkipHostSetup || !c.KeepFailedHosts {
		t.Errorf("ApplyEnv: %+v", c)
	}
}

func TestSkipHostSetupLifecycle(t *testing.T) {
	ctx := context.Background()
	fc := newFakeClient("127.0.0.9")
	p := newSkipProvider(t, mirrorClient{fc})

	h, err := p.CreateHost(ctx, core.CreateHostRequest{Name: "h1", BuildArgs: []string{"--fake-region=westus"}})
	if err != nil {
		t.Fatal(err)
	}
	if h.Exec != nil || h.State != core.HostRunning || h.Name != "h1" || h.Provider != "fake" {
		t.Fatalf("CreateHost = %+v", h)
	}
	if d := cmp.Diff(map[string]string{"team": "x"}, h.Tags); d != "" {
		t.Errorf("user tags (-want +got)\n%s", d)
	}
	req := fc.created[0]
	if req.ProviderArgs.Region != "westus" || !strings.HasPrefix(req.AdminPublicKey, "ssh-ed25519 ") {
		t.Errorf("create request: %+v", req)
	}
	ud := string(req.UserData)
	for _, want := range []string{"#cloud-config", "ed25519_private", "mngr-idle-watcher.path", "deallocating", ReadyMarker} {
		if !strings.Contains(ud, want) {
			t.Errorf("user data lacks %q", want)
		}
	}
	keyDir := filepath.Join(p.Config().LocalHostDir, "providers", "fakecloud", "fake", "keys")
	hostKeyDir := filepath.Join(keyDir, "hosts", string(h.ID))
	for _, f := range []string{"vm_ssh_key", "container_ssh_key", "hosts/" + string(h.ID) + "/vm_host_key",
		"hosts/" + string(h.ID) + "/container_host_key"} {
		st, err := os.Stat(filepath.Join(keyDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("key %s: %v %v", f, st, err)
		}
	}

	rec := core.AgentRecord{ID: core.NewAgentID(), Name: "a1"}
	if err := p.PersistAgent(ctx, h.ID, rec); err != nil {
		t.Fatal(err)
	}
	rec.Type = "claude"
	if err := p.PersistAgent(ctx, h.ID, rec); err != nil {
		t.Fatal(err)
	}
	hosts, err := p.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || len(hosts[0].Agents) != 1 || hosts[0].Agents[0].Type != "claude" {
		t.Fatalf("ListHosts = %+v", hosts)
	}

	if _, err := p.ConnectHost(ctx, h.ID); err != nil {
		t.Fatalf("ConnectHost running: %v", err)
	}
	if err := p.StopHost(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ConnectHost(ctx, h.ID); !errors.Is(err, core.ErrHostOffline) || core.HintOf(err) == "" {
		t.Errorf("ConnectHost stopped = %v, want ErrHostOffline with hint", err)
	}
	hosts, _ = p.ListHosts(ctx)
	if hosts[0].State != core.HostStopped || len(hosts[0].Agents) != 1 {
		t.Errorf("stopped host listed as %+v", hosts[0])
	}
	h2, err := p.StartHost(ctx, h.ID)
	if err != nil || h2.State != core.HostRunning || h2.Exec != nil {
		t.Fatalf("StartHost = %+v, %v", h2, err)
	}
	if err := p.RemovePersistedAgent(ctx, h.ID, rec.ID); err != nil {
		t.Fatal(err)
	}
	items, err := p.CollectGarbage(ctx, true)
	if err != nil || len(items) != 1 || items[0].Done {
		t.Errorf("CollectGarbage = %+v, %v", items, err)
	}
	if err := p.DestroyHost(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hostKeyDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destroy left the host's key dir: %v", err)
	}
	if err := p.DestroyHost(ctx, h.ID); err != nil {
		t.Errorf("second destroy: %v", err)
	}
	if d := cmp.Diff([]string{"preflight", "create", "stop", "start", "destroy", "destroy"}, fc.calls); d != "" {
		t.Errorf("client calls (-want +got)\n%s", d)
	}
}

func TestStoppedBillingHint(t *testing.T) {
	ctx := context.Background()
	fc := newFakeClient("127.0.0.9")
	p := newSkipProvider(t, fc)
	h, err := p.CreateHost(ctx, core.CreateHostRequest{Name: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := fc.setStatus(h.ID, StatusStoppedBilling); err != nil {
		t.Fatal(err)
	}
	hosts, err := p.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hosts[0].State != core.HostStoppedBilling || !strings.Contains(hosts[0].StateHint, "mngr stop") || hosts[0].Agents != nil {
		t.Errorf("listed %+v", hosts[0])
	}
	if err := p.PersistAgent(ctx, h.ID, core.AgentRecord{ID: core.NewAgentID()}); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("PersistAgent without mirror = %v", err)
	}
	if items, err := p.CollectGarbage(ctx, false); err != nil || items != nil {
		t.Errorf("CollectGarbage without gc = %v, %v", items, err)
	}
}

func TestCreateHostRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	fc := newFakeClient("127.0.0.9")
	p := newSkipProvider(t, fc)
	for _, req := range []core.CreateHostRequest{
		{Name: "bad name"},
		{Name: "ok", BuildArgs: []string{"--fake-bogus=1"}},
	} {
		if _, err := p.CreateHost(ctx, req); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("CreateHost(%+v) = %v, want ErrInvalidInput", req, err)
		}
	}
	if len(fc.created) != 0 {
		t.Errorf("created %d instances on bad input", len(fc.created))
	}
}

func TestFailedSetupDestroysTheVM(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%v", keep), func(t *testing.T) {
			// Nothing answers SSH on this loopback address, so setup fails
			// after the VM exists.
			fc := newFakeClient("127.0.0.254")
			p, err := NewProvider(fc, Config{ProviderName: "fake", LocalHostDir: t.TempDir(),
				SSHConnectTimeout: time.Second, KeepFailedHosts: keep})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.CreateHost(context.Background(), core.CreateHostRequest{Name: "h1"})
			if err == nil {
				t.Fatal("CreateHost succeeded without an sshd")
			}
			if !strings.Contains(err.Error(), "SSH server not ready after 1s at 127.0.0.254:22") {
				t.Errorf("error %q", err)
			}
			destroyed := slices.Contains(fc.calls, "destroy")
			if destroyed == keep {
				t.Errorf("keep=%v: destroy called=%v (calls %q)", keep, destroyed, fc.calls)
			}
			if keep && !strings.Contains(core.HintOf(err), "MNGR_KEEP_FAILED_HOSTS=1") {
				t.Errorf("hint %q", core.HintOf(err))
			}
		})
	}
}
