package vps

import (
	"context"
	"fmt"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

// InstancePlan is what a client would create for one instance.
type InstancePlan struct {
	Resources []core.PlannedResource
	// Estimate is a labelled price estimate ("" when the client has none).
	Estimate  string
	HourlyUSD *float64
	Notes     []string
}

// InstancePlanner is a VpsClient that can describe a CreateInstance
// without making any cloud write.
type InstancePlanner interface {
	PlanInstance(ctx context.Context, req CreateInstanceRequest) (InstancePlan, error)
}

// Placeholders for the key material a dry run does not create: a plan
// must leave no key file behind, and must not print a private key.
const (
	planHostKeyPEM = "<this host's own VM sshd host private key, generated in keys/hosts/<host id> at create time>"
	planHostKeyPub = "<this host's own VM sshd host public key, pinned in vm_known_hosts at create time>"
	planClientKey  = "<mngr's VM client public key, from the provider's key directory at create time>"
)

var _ core.CreatePlanner = (*Provider)(nil)

// userDataOptions are the cloud-init inputs of host id; CreateHost and
// PlanCreateHost both render through it, so a plan shows what a create sends.
func (p *Provider) userDataOptions(id core.HostID, hostKeyPEM, hostKeyPub, rootKey string) UserDataOptions {
	ud := UserDataOptions{
		HostID:              id,
		HostKeyPEM:          hostKeyPEM,
		HostKeyPub:          hostKeyPub,
		RootAuthorizedKey:   rootKey,
		AdminUser:           p.cfg.AdminUser,
		AutoShutdownSeconds: p.cfg.AutoShutdownSeconds,
		DockerInstall:       p.cfg.DockerInstall,
	}
	if s, ok := p.client.(SelfStopper); ok {
		ud.SelfStopScript = s.SelfStopScript()
	}
	return ud
}

// PlanCreateHost describes what CreateHost would do for req: the cloud
// resources (from the client, which must be an InstancePlanner) and the
// cloud-init document. It writes nothing, in the cloud or locally: the keys
// are placeholders, and only read-only cloud calls are made (the preflight,
// whose failure becomes a note).
func (p *Provider) PlanCreateHost(ctx context.Context, req core.CreateHostRequest) (*core.CreatePlan, error) {
	if err := core.ValidateName("host", req.Name); err != nil {
		return nil, err
	}
	planner, ok := p.client.(InstancePlanner)
	if !ok {
		return nil, fmt.Errorf("provider %q cannot describe a create without making it: %w", p.cfg.ProviderName, core.ErrNotSupported)
	}
	pargs, _, err := p.client.ParseBuildArgs(req.BuildArgs)
	if err != nil {
		return nil, fmt.Errorf("parse build args: %w", err)
	}
	id := core.NewHostID()
	var imageNotes []string
	baked, err := p.resolveImage(ctx, &pargs, req.AgentType, func(n string) { imageNotes = append(imageNotes, n) })
	if err != nil {
		return nil, err
	}
	ud := p.userDataOptions(id, planHostKeyPEM, planHostKeyPub, planClientKey)
	ud.Baked = baked
	userData, err := UserData(ud)
	if err != nil {
		return nil, err
	}
	ip, err := planner.PlanInstance(ctx, CreateInstanceRequest{
		HostID: id, HostName: req.Name, UserData: userData, AdminPublicKey: planClientKey, ProviderArgs: pargs,
	})
	if err != nil {
		return nil, fmt.Errorf("plan vm for host %q: %w", req.Name, err)
	}
	plan := &core.CreatePlan{
		Provider: p.cfg.ProviderName, HostName: req.Name, HostID: id,
		Resources: ip.Resources, UserData: string(userData),
		Estimate: ip.Estimate, HourlyUSD: ip.HourlyUSD, Notes: ip.Notes,
	}
	if plan.Resources == nil {
		plan.Resources = []core.PlannedResource{}
	}
	plan.Notes = append(plan.Notes, imageNotes...)
	if err := p.client.Preflight(ctx); err != nil {
		note := fmt.Sprintf("a real create would stop at the preflight: %v", err)
		if h := core.HintOf(err); h != "" {
			note += " (" + h + ")"
		}
		plan.Notes = append(plan.Notes, note)
	}
	plan.Notes = append(plan.Notes, fmt.Sprintf("the host id %s is drawn for this plan only; a real create draws a new one", id),
		"key material in the user data is shown as placeholders; a real create generates this host's own host keys "+
			"and uses the provider's client key (created on first use)")
	return plan, nil
}

// resolveImage asks an ImageResolver client which image a create starts
// from; note receives what it says. A client without baked images starts
// every create from its stock image.
func (p *Provider) resolveImage(ctx context.Context, pa *ProviderArgs, agentType string, note func(string)) (bool, error) {
	r, ok := p.client.(ImageResolver)
	if !ok {
		return false, nil
	}
	baked, notes, err := r.ResolveImage(ctx, pa, agentType)
	if err != nil {
		return false, fmt.Errorf("choose the image: %w", err)
	}
	for _, n := range notes {
		note(n)
	}
	if baked {
		note(fmt.Sprintf("cloud-init skips what the baked image holds (%s) and runs only the per-host steps "+
			"(host keys, user key, sshd tuning, user-data scrub, host dirs, idle watcher); the agent image load is skipped as the image is in its Docker already",
			strings.Join(BakedSteps, ", ")))
	}
	return baked, nil
}
