package vps

import (
	"context"
	"fmt"

	"github.com/mngr-azure/mngr/internal/core"
)

// ImageResolver is a VpsClient whose creates may start from an image mngr
// baked. ResolveImage decides the image of one create and records the
// choice in pa (the client reads it back in CreateInstance); baked says
// the image holds BakedSteps, and notes say what was chosen and any
// warning (a baked image of an older recipe).
type ImageResolver interface {
	ResolveImage(ctx context.Context, pa *ProviderArgs) (baked bool, notes []string, err error)
}

// Client is the cloud client under the provider (mngr azure bake uses it).
func (p *Provider) Client() VpsClient { return p.client }

// BuildImageVM makes an image builder VM: the VM a create makes, with the
// full cloud-init setup and the agent image in its dockerd, then wiped of
// everything per-host or secret (scripts/bake_scrub.sh), ready to be
// stopped and captured. Its instance is returned as soon as the cloud
// made it (created is called then, so the caller can delete it on any
// later failure); the builder's own host keys are removed before return.
func (p *Provider) BuildImageVM(ctx context.Context, name string, pa ProviderArgs, created func(Instance)) (Instance, error) {
	if err := core.ValidateName("host", name); err != nil {
		return Instance{}, err
	}
	id := core.NewHostID()
	keys, hk, err := p.newHostKeys(id)
	if err != nil {
		return Instance{}, err
	}
	defer p.dropHostKeys(context.WithoutCancel(ctx), keys, id)
	hostKeyPEM, err := readFile(hk.VMHostKey)
	if err != nil {
		return Instance{}, err
	}
	// No idle watcher and no auto-shutdown: the builder is stopped by the bake.
	userData, err := UserData(UserDataOptions{HostID: id, HostKeyPEM: hostKeyPEM, HostKeyPub: hk.VMHostKeyPub,
		RootAuthorizedKey: keys.VMKeyPub, AdminUser: p.cfg.AdminUser})
	if err != nil {
		return Instance{}, err
	}
	inst, err := p.client.CreateInstance(ctx, CreateInstanceRequest{HostID: id, HostName: name, UserData: userData,
		AdminPublicKey: keys.VMKeyPub, ProviderArgs: pa})
	if err != nil {
		return Instance{}, fmt.Errorf("create builder vm %q: %w", name, err)
	}
	if inst.HostID == "" {
		inst.HostID = id
	}
	created(inst)
	if inst.PublicIP == "" {
		return inst, fmt.Errorf("builder vm %q has no public ip: %w", name, core.ErrUnavailable)
	}
	vm := p.vmExec(inst.PublicIP, keys)
	if err := step(ctx, "waiting for the builder's sshd", func() error { return p.connectVM(ctx, inst.PublicIP, keys, hk) }); err != nil {
		return inst, err
	}
	if err := step(ctx, "running the setup steps (cloud-init: base packages, Docker)", func() error { return p.waitCloudInit(ctx, vm) }); err != nil {
		return inst, err
	}
	if err := step(ctx, "loading the agent image into the builder's Docker", func() error {
		_, err := p.prepareImage(ctx, vm, keys, inst, nil)
		return err
	}); err != nil {
		return inst, err
	}
	if err := step(ctx, "removing host keys, user keys, cloud-init and agent state from the builder", func() error {
		_, err := p.runRetry(ctx, vm, "scrub the builder", core.ScriptCall(bakeScrubSh, VMDataRoot), probeTimeout, "")
		return err
	}); err != nil {
		return inst, err
	}
	return inst, nil
}
