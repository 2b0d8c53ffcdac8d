package vps_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
	"github.com/mngr-azure/mngr/internal/vps"
	"github.com/mngr-azure/mngr/internal/vps/vpstest"
)

func TestReachTimeoutDefault(t *testing.T) {
	p, err := vps.NewProvider(vpstest.NewClient(), vps.Config{ProviderName: "x", KeyDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Config().ReachTimeout; got != 5*time.Second {
		t.Errorf("default ReachTimeout = %v, want 5s", got)
	}
}

// TestConnectHostReachTimeout checks that ConnectHost gives a running VM
// whose container never speaks SSH exactly ReachTimeout, then reports it
// offline; an answering container connects; a deallocated VM is offline
// without any connection.
func TestConnectHostReachTimeout(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	keys, err := vps.EnsureKeys(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	hostPEM, _, err := sshx.GenerateEd25519("container host")
	if err != nil {
		t.Fatal(err)
	}
	srv := sshtest.MustStart(t, sshtest.Config{HostKeyPEM: hostPEM, AuthorizedKey: keys.ContainerKeyPub, Mode: sshtest.ModeSilent})
	if err := sshx.PinHostKey(keys.ContainerKnownHosts, srv.Host(), srv.Port(), srv.HostPublicKey()); err != nil {
		t.Fatal(err)
	}
	cloud := vpstest.NewClient()
	running := vps.Instance{HostID: core.NewHostID(), HostName: "up", Status: vps.StatusActive, PublicIP: srv.Host()}
	stopped := vps.Instance{HostID: core.NewHostID(), HostName: "down", Status: vps.StatusStopped, PublicIP: srv.Host()}
	cloud.Put(running, nil)
	cloud.Put(stopped, nil)
	const reach = 400 * time.Millisecond
	p, err := vps.NewProvider(cloud, vps.Config{ProviderName: "x", KeyDir: keyDir, ContainerSSHPort: srv.Port(), ReachTimeout: reach})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx := context.Background()

	start := time.Now()
	_, err = p.ConnectHost(ctx, running.HostID)
	took := time.Since(start)
	if !errors.Is(err, core.ErrHostOffline) {
		t.Fatalf("ConnectHost of a silent container: %v, want ErrHostOffline", err)
	}
	if took < reach || took > reach+2*time.Second {
		t.Errorf("ConnectHost gave up after %v, want about ReachTimeout %v", took, reach)
	}
	if st := srv.Stats(); st.Conns != 1 {
		t.Errorf("silent container got %d connections, want 1", st.Conns)
	}

	srv.SetMode(sshtest.ModeServe)
	h, err := p.ConnectHost(ctx, running.HostID)
	if err != nil {
		t.Fatalf("ConnectHost once the container answers: %v", err)
	}
	if res, err := h.Exec.Run(ctx, "echo hi", core.RunOptions{}); err != nil || res.Stdout != "hi\n" {
		t.Errorf("run on the connected host: %+v, %v", res, err)
	}

	before := srv.Stats().Conns
	if _, err := p.ConnectHost(ctx, stopped.HostID); !errors.Is(err, core.ErrHostOffline) {
		t.Errorf("ConnectHost of a deallocated VM: %v, want ErrHostOffline", err)
	}
	if n := srv.Stats().Conns - before; n != 0 {
		t.Errorf("ConnectHost of a deallocated VM made %d connections, want 0", n)
	}
}
