package vps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// ImageResolver is a VpsClient whose creates may start from an image mngr
// baked. ResolveImage decides the image of one create and records the
// choice in pa (the client reads it back in CreateInstance); baked says
// the image holds BakedSteps, and notes say what was chosen and any
// warning (a baked image of an older recipe).
// agentType is the type of the agent the host is made for ("" unknown): an
// image that holds its CLI is preferred.
type ImageResolver interface {
	ResolveImage(ctx context.Context, pa *ProviderArgs, agentType string) (baked bool, notes []string, err error)
}

// InstanceRoler is a VpsClient that knows VMs it made for something other
// than agents (an image builder), so listings do not call them orphans.
type InstanceRoler interface {
	// InstanceRole describes what inst is for, or "" for an agent host.
	InstanceRole(inst Instance) string
}

// BuildImageOptions are what a bake adds to the create's setup.
type BuildImageOptions struct {
	// AgentCLIs are installed into the agent image (mngr azure bake
	// --agent-type), as an agent's start would install them.
	AgentCLIs []core.AgentCLI
	// InstallEnv are the NAME=VALUE settings the CLI installer runs with
	// (proxies, npm_config_registry, CA files: core.InstallerEnvAllowed);
	// they are not kept in the image.
	InstallEnv []string
}

// bakeWorkDir is where bake_agent_clis.sh keeps the installer's env file,
// script and logs on the builder while it runs.
const bakeWorkDir = "/var/lib/mngr/bake"

// bakeCLITimeout bounds installing the agent CLIs into the agent image
// (apt-get nodejs and npm, then each package) and committing it.
const bakeCLITimeout = 20 * time.Minute

// AgentCLILabel is the agent image label that names the CLIs a bake put in
// it (claude@2.1.143,codex@0.153.3).
const AgentCLILabel = "mngr.agent-clis"

// CheckInstallEnv checks NAME=VALUE settings for the CLI installer.
func CheckInstallEnv(env []string) error {
	for _, kv := range env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || !envNameRE().MatchString(name) {
			return core.WithHint(fmt.Errorf("installer setting %q: want NAME=VALUE: %w", kv, core.ErrInvalidInput),
				"for example --env npm_config_registry=https://npm.example.com/")
		}
		if !core.InstallerEnvAllowed(name) {
			return core.WithHint(fmt.Errorf("installer setting %s: the installer drops it (it keeps proxies, npm_config_*, locale and CA files only, so no secret reaches a package's scripts): %w", name, core.ErrInvalidInput),
				"pass only http_proxy, https_proxy, no_proxy, npm_config_*, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE or SSL_CERT_DIR")
		}
	}
	return nil
}

var envNameRE = core.LazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

// agentCLIsScript is the script the install container runs: each CLI's
// install as an agent's start runs it, a check that the CLI prints its
// pinned version, then the package managers' caches removed.
func agentCLIsScript(clis []core.AgentCLI) string {
	var b strings.Builder
	for _, c := range clis {
		b.WriteString("echo " + core.ShellQuote("installing "+c.Package) + "\n")
		b.WriteString("(\n" + core.InstallCLIScript(c, "/mngr-bake/env", "/mngr-bake/install-"+c.Command+".log") + "\n) || exit $?\n")
		fmt.Fprintf(&b, "v=$(HOME=/tmp/mngr-bake-home %s --version 2>&1 </dev/null) || { echo \"%s --version failed: $v\" >&2; exit 8; }\n", c.Command, c.Command)
		fmt.Fprintf(&b, "case \"$v\" in *%s*) ;; *) echo \"%s --version printed '$v', not %s\" >&2; exit 8 ;; esac\n", core.ShellQuote(c.Version), c.Command, c.Version)
	}
	b.WriteString("rm -rf /tmp/mngr-bake-home /root/.npm\n")
	b.WriteString("if command -v apt-get >/dev/null 2>&1; then apt-get clean; rm -rf /var/lib/apt/lists/*; fi\n")
	return b.String()
}

// Client is the cloud client under the provider (mngr azure bake uses it).
func (p *Provider) Client() VpsClient { return p.client }

// BuildImageVM makes an image builder VM: the VM a create makes, with the
// full cloud-init setup and the agent image in its dockerd, then wiped of
// everything per-host or secret (scripts/bake_scrub.sh), ready to be
// stopped and captured. Its instance is returned as soon as the cloud
// made it (created is called then, so the caller can delete it on any
// later failure); the builder's own host keys are removed before return.
func (p *Provider) BuildImageVM(ctx context.Context, name string, pa ProviderArgs, opts BuildImageOptions, created func(Instance)) (Instance, error) {
	if err := core.ValidateName("host", name); err != nil {
		return Instance{}, err
	}
	if err := CheckInstallEnv(opts.InstallEnv); err != nil {
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
	var image string
	if err := step(ctx, "loading the agent image into the builder's Docker", func() error {
		var err error
		image, err = p.prepareImage(ctx, vm, keys, inst, nil)
		return err
	}); err != nil {
		return inst, err
	}
	if len(opts.AgentCLIs) > 0 {
		var names, label []string
		for _, c := range opts.AgentCLIs {
			names = append(names, c.Package)
			label = append(label, c.Command+"@"+c.Version)
		}
		var env strings.Builder
		for _, kv := range opts.InstallEnv {
			k, v, _ := strings.Cut(kv, "=")
			env.WriteString(k + "=" + core.ShellQuote(v) + "\n")
		}
		script := core.ScriptCall(bakeAgentCLIsSh, image, bakeWorkDir, env.String(), agentCLIsScript(opts.AgentCLIs),
			AgentCLILabel+"="+strings.Join(label, ","))
		if err := step(ctx, "installing "+strings.Join(names, " and ")+" into the agent image "+image, func() error {
			_, err := p.runRetry(ctx, vm, "install the agent CLIs into the agent image", script, bakeCLITimeout, "")
			return err
		}); err != nil {
			return inst, err
		}
	}
	if err := step(ctx, "removing host keys, user keys, the admin user, cloud-init and agent state from the builder", func() error {
		_, err := p.runRetry(ctx, vm, "scrub the builder", core.ScriptCall(bakeScrubSh, VMDataRoot, p.cfg.AdminUser), probeTimeout, "")
		return err
	}); err != nil {
		return inst, err
	}
	return inst, nil
}

// AgentCLIsRecipe is the text of the steps that put clis into a baked
// image's agent image: a change in it changes the recipe hash.
func AgentCLIsRecipe(clis []core.AgentCLI) string {
	return bakeAgentCLIsSh + "\n" + agentCLIsScript(clis)
}
