package vps

import (
	"context"
	"fmt"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

var _ core.SSHEndpointer = (*Provider)(nil)

// SSHEndpoint describes the agent container's sshd of host id for a plain
// ssh client: the VM's public IP at the container SSH port, user root, the
// provider instance's container key and its pinned container known_hosts
// file. The host's container host key is mngr's own (made at create,
// injected at setup), so it is pinned here too; pinning is idempotent and
// makes the known_hosts file usable even before mngr itself has connected.
func (p *Provider) SSHEndpoint(ctx context.Context, id core.HostID) (core.SSHEndpoint, error) {
	inst, err := p.client.GetInstance(ctx, id)
	if err != nil {
		return core.SSHEndpoint{}, fmt.Errorf("find host %s: %w", id, err)
	}
	if inst.Status != StatusActive {
		return core.SSHEndpoint{}, core.WithHint(fmt.Errorf("host %q is %s: %w", inst.HostName, hostState(inst.Status), core.ErrHostOffline),
			"start it with `mngr start <agent>`")
	}
	if inst.PublicIP == "" {
		return core.SSHEndpoint{}, fmt.Errorf("host %q has no public ip: %w", inst.HostName, core.ErrHostOffline)
	}
	keys, hk, err := p.hostKeys(id)
	if err != nil {
		return core.SSHEndpoint{}, err
	}
	if err := sshx.PinHostKey(keys.ContainerKnownHosts, inst.PublicIP, p.cfg.ContainerSSHPort, hk.ContainerHostKeyPub); err != nil {
		return core.SSHEndpoint{}, fmt.Errorf("pin container host key of host %q: %w", inst.HostName, err)
	}
	return core.SSHEndpoint{
		HostName:       inst.PublicIP,
		Port:           p.cfg.ContainerSSHPort,
		User:           "root",
		IdentityFile:   keys.ContainerKey,
		KnownHostsFile: keys.ContainerKnownHosts,
	}, nil
}
