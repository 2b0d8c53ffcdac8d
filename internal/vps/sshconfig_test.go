package vps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

func TestSSHEndpointUsesPinnedContainerKeys(t *testing.T) {
	ctx := context.Background()
	fc := newFakeClient("127.0.0.9")
	p, err := NewProvider(fc, Config{ProviderName: "fake", Backend: "fakecloud", LocalHostDir: t.TempDir(),
		SkipHostSetup: true, ContainerSSHPort: 2299})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.CreateHost(ctx, core.CreateHostRequest{Name: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	var sp core.Provider = p
	ep, err := sp.(core.SSHEndpointer).SSHEndpoint(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := p.Keys()
	if err != nil {
		t.Fatal(err)
	}
	want := core.SSHEndpoint{HostName: "127.0.0.9", Port: 2299, User: "root",
		IdentityFile: keys.ContainerKey, KnownHostsFile: keys.ContainerKnownHosts}
	if ep != want {
		t.Fatalf("endpoint = %+v, want %+v", ep, want)
	}
	// Not the VM's key or known_hosts: those reach the VM's own sshd on port 22.
	if ep.IdentityFile == keys.VMKey || ep.KnownHostsFile == keys.VMKnownHosts {
		t.Errorf("endpoint uses the VM's files: %+v", ep)
	}
	// The known_hosts file pins exactly the container host key for [ip]:port,
	// so `ssh -o StrictHostKeyChecking=yes` accepts the container.
	b, err := os.ReadFile(ep.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := LoadHostKeys(keys.Dir, h.ID)
	if err != nil || hk.Shared() {
		t.Fatalf("host keys of a new host = %+v, %v; want its own", hk, err)
	}
	fields := strings.Fields(hk.ContainerHostKeyPub)
	wantLine := sshx.HostPattern("127.0.0.9", 2299) + " " + fields[0] + " " + fields[1]
	if strings.TrimSpace(string(b)) != wantLine {
		t.Errorf("known_hosts = %q, want %q", b, wantLine)
	}
	if _, err := sshx.HostKeyCallback(ep.KnownHostsFile); err != nil {
		t.Errorf("known_hosts does not load: %v", err)
	}
	if filepath.Dir(ep.IdentityFile) != keys.Dir {
		t.Errorf("identity file %q outside key dir %q", ep.IdentityFile, keys.Dir)
	}
	// A second call changes nothing.
	if _, err := p.SSHEndpoint(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(ep.KnownHostsFile); string(b2) != string(b) {
		t.Errorf("known_hosts changed on a second call: %q", b2)
	}

	// A deallocated VM has no endpoint.
	if err := p.StopHost(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SSHEndpoint(ctx, h.ID); !errors.Is(err, core.ErrHostOffline) || !strings.Contains(core.HintOf(err), "mngr start") {
		t.Errorf("stopped host: err = %v (hint %q), want ErrHostOffline with a start hint", err, core.HintOf(err))
	}
	if _, err := p.SSHEndpoint(ctx, core.NewHostID()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("unknown host: err = %v, want ErrNotFound", err)
	}
}
