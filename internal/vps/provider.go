package vps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

// Config is the host layer's settings for one provider instance.
type Config struct {
	// ProviderName is the provider instance name ("azure", "azure-west").
	ProviderName string
	// Backend is the backend name ("azure"); it names the key directory.
	Backend string
	// Prefix prefixes container names and tmux sessions (default "mngr-").
	Prefix string
	// LocalHostDir is the local mngr directory (MNGR_HOST_DIR); it holds the keys.
	LocalHostDir string
	// KeyDir overrides the local key directory; default
	// <LocalHostDir>/providers/<Backend>/<ProviderName>/keys.
	KeyDir string
	// HostDir is mngr's directory inside the container (default "/mngr").
	HostDir string
	// ContainerSSHPort is the VM port published to the container's sshd (default 2222).
	ContainerSSHPort int
	// AdminUser is the VM's admin user the cloud authorizes the VM key for.
	AdminUser string
	// DefaultImage is the agent image when the user names none; empty picks
	// "mngr-agent:latest" when the VM carries the baked tarball, else
	// "debian:bookworm-slim".
	DefaultImage string
	// StartArgs are extra `docker run` args put before the user's.
	StartArgs []string
	// AutoShutdownSeconds, when positive, schedules an OS shutdown at boot.
	AutoShutdownSeconds int
	// DockerInstall is how cloud-init installs Docker on a VM without it:
	// DockerInstallDebian (default) or DockerInstallCE.
	DockerInstall string
	// IdleTimeoutSeconds is the default idle timeout (default 800; negative disables).
	IdleTimeoutSeconds int
	// SSHConnectTimeout bounds each wait for an sshd (default 60 s).
	SSHConnectTimeout time.Duration
	// ReachTimeout bounds ConnectHost's check that a running VM's container
	// answers (TCP connect, SSH handshake and `echo ok`), so `mngr list`
	// waits at most this long on a VM that runs but does not answer
	// (default 5 s: room for two lost TCP SYNs, far above a healthy reply).
	ReachTimeout time.Duration
	// CloudInitTimeout bounds the wait for cloud-init's ready marker (default 300 s).
	CloudInitTimeout time.Duration
	// ImageTimeout bounds pulling, loading or building the image (default 600 s).
	ImageTimeout time.Duration
	// ContainerSetupTimeout bounds each setup command in the container (default 300 s).
	ContainerSetupTimeout time.Duration
	// SkipHostSetup stops create and start once the VM runs (no SSH); the
	// returned Host has a nil Exec. For ARM-level tests only.
	SkipHostSetup bool
	// KeepFailedHosts keeps a VM whose setup failed, for debugging.
	KeepFailedHosts bool
}

// ApplyEnv sets SkipHostSetup from MNGR_VPS_SKIP_HOST_SETUP=1 and
// KeepFailedHosts from MNGR_KEEP_FAILED_HOSTS=1.
func (c *Config) ApplyEnv(getenv func(string) string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if getenv("MNGR_VPS_SKIP_HOST_SETUP") == "1" {
		c.SkipHostSetup = true
	}
	if getenv("MNGR_KEEP_FAILED_HOSTS") == "1" {
		c.KeepFailedHosts = true
	}
}

func (c *Config) setDefaults() error {
	if c.ProviderName == "" {
		return fmt.Errorf("vps config: provider name is required: %w", core.ErrInvalidInput)
	}
	if c.Backend == "" {
		c.Backend = c.ProviderName
	}
	if c.Prefix == "" {
		c.Prefix = core.DefaultPrefix
	}
	if c.KeyDir == "" {
		if c.LocalHostDir == "" {
			return fmt.Errorf("vps config %q: LocalHostDir or KeyDir is required: %w", c.ProviderName, core.ErrInvalidInput)
		}
		c.KeyDir = KeyDir(c.LocalHostDir, c.Backend, c.ProviderName)
	}
	if c.HostDir == "" {
		c.HostDir = core.DefaultRemoteHostDir
	}
	if c.ContainerSSHPort == 0 {
		c.ContainerSSHPort = core.DefaultContainerSSHPort
	}
	if c.ContainerSSHPort < 1 || c.ContainerSSHPort > 65535 || c.ContainerSSHPort == 22 {
		return fmt.Errorf("vps config %q: container ssh port %d must be in 1..65535 and not 22: %w",
			c.ProviderName, c.ContainerSSHPort, core.ErrInvalidInput)
	}
	if c.IdleTimeoutSeconds == 0 {
		c.IdleTimeoutSeconds = 800
	}
	if c.SSHConnectTimeout <= 0 {
		c.SSHConnectTimeout = 60 * time.Second
	}
	if c.ReachTimeout <= 0 {
		c.ReachTimeout = 5 * time.Second
	}
	if c.CloudInitTimeout <= 0 {
		c.CloudInitTimeout = 300 * time.Second
	}
	if c.ImageTimeout <= 0 {
		c.ImageTimeout = 600 * time.Second
	}
	if c.ContainerSetupTimeout <= 0 {
		c.ContainerSetupTimeout = 300 * time.Second
	}
	return nil
}

// Provider is a core.Provider whose hosts are cloud VMs, each running one
// agent container, reached over SSH with pinned host keys.
type Provider struct {
	client VpsClient
	cfg    Config
	pool   *sshx.Pool

	keysMu sync.Mutex
	keys   *Keys

	seen seenInstances

	retry sshRetry
}

var (
	_ core.Provider         = (*Provider)(nil)
	_ core.HostStopper      = (*Provider)(nil)
	_ core.AgentPersister   = (*Provider)(nil)
	_ core.GarbageCollector = (*Provider)(nil)
	_ core.HostRenamer      = (*Provider)(nil)
)

// NewProvider returns a provider driving client. It makes no network call.
// PersistAgent and RemovePersistedAgent return core.ErrNotSupported unless
// client is an AgentMirror; CollectGarbage returns nothing unless client is
// a core.GarbageCollector.
func NewProvider(client VpsClient, cfg Config) (*Provider, error) {
	if client == nil {
		return nil, fmt.Errorf("vps provider: nil client: %w", core.ErrInvalidInput)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Provider{client: client, cfg: cfg, pool: sshx.NewPool(), retry: defaultSSHRetry}, nil
}

// Name returns the provider instance name.
func (p *Provider) Name() string { return p.cfg.ProviderName }

// Config returns the effective configuration (defaults applied).
func (p *Provider) Config() Config { return p.cfg }

// Close closes the SSH connections the provider opened.
func (p *Provider) Close() { p.pool.Close() }

// Keys returns the provider instance's local keys, creating them once.
func (p *Provider) Keys() (*Keys, error) {
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	if p.keys != nil {
		return p.keys, nil
	}
	k, err := EnsureKeys(p.cfg.KeyDir)
	if err != nil {
		return nil, err
	}
	p.keys = k
	return k, nil
}

// SupportsAgentMirror reports whether agent records persist beside the VM.
func (p *Provider) SupportsAgentMirror() bool {
	_, ok := p.client.(AgentMirror)
	return ok
}

// CreateHost creates a VM, brings up the agent container on it and returns
// the host online (or, with SkipHostSetup, the VM running and Exec nil).
func (p *Provider) CreateHost(ctx context.Context, req core.CreateHostRequest) (*core.Host, error) {
	if err := core.ValidateName("host", req.Name); err != nil {
		return nil, err
	}
	prog := core.ProgressFrom(ctx)
	pargs, dockerArgs, err := p.client.ParseBuildArgs(req.BuildArgs)
	if err != nil {
		return nil, fmt.Errorf("parse build args: %w", err)
	}
	if err := p.client.Preflight(ctx); err != nil {
		return nil, fmt.Errorf("preflight for provider %q: %w", p.cfg.ProviderName, err)
	}
	id := core.NewHostID()
	done := prog.Step("preparing ssh keys")
	keys, hk, err := p.newHostKeys(id)
	done(err)
	if err != nil {
		return nil, err
	}
	hostKeyPEM, err := readFile(hk.VMHostKey)
	if err != nil {
		p.dropHostKeys(ctx, keys, id)
		return nil, err
	}
	baked, err := p.resolveImage(ctx, &pargs, req.AgentType, func(n string) { core.Note(ctx, n) })
	if err != nil {
		p.dropHostKeys(ctx, keys, id)
		return nil, err
	}
	ud := p.userDataOptions(id, hostKeyPEM, hk.VMHostKeyPub, keys.VMKeyPub)
	ud.Baked = baked
	userData, err := UserData(ud)
	if err != nil {
		p.dropHostKeys(ctx, keys, id)
		return nil, err
	}

	// No step of its own: the client shows its steps (public IP, network
	// interface, the VM with its size and region); one here would print
	// "creating VM … done" a second time.
	inst, err := p.client.CreateInstance(ctx, CreateInstanceRequest{
		HostID:         id,
		HostName:       req.Name,
		UserData:       userData,
		AdminPublicKey: keys.VMKeyPub,
		ProviderArgs:   pargs,
	})
	if err != nil {
		// The client removes what it created: the keys go too.
		p.dropHostKeys(ctx, keys, id)
		return nil, fmt.Errorf("create vm for host %q: %w", req.Name, err)
	}
	if inst.HostID == "" {
		inst.HostID = id
	}
	if inst.HostName == "" {
		inst.HostName = req.Name
	}
	if p.cfg.SkipHostSetup {
		return p.offlineHost(inst), nil
	}
	h, err := p.setupHost(ctx, inst, keys, hk, req, dockerArgs)
	if err != nil {
		return nil, p.cleanupFailed(ctx, inst, err)
	}
	return h, nil
}

// newHostKeys returns the provider instance's keys and fresh host keys for
// host id, made before its VM exists.
func (p *Provider) newHostKeys(id core.HostID) (*Keys, *HostKeys, error) {
	keys, err := p.Keys()
	if err != nil {
		return nil, nil, err
	}
	hk, err := CreateHostKeys(keys.Dir, id)
	if err != nil {
		return nil, nil, err
	}
	return keys, hk, nil
}

// hostKeys returns the provider instance's keys and host id's host keys.
func (p *Provider) hostKeys(id core.HostID) (*Keys, *HostKeys, error) {
	keys, err := p.Keys()
	if err != nil {
		return nil, nil, err
	}
	hk, err := LoadHostKeys(keys.Dir, id)
	if err != nil {
		return nil, nil, err
	}
	return keys, hk, nil
}

// dropHostKeys removes host id's own host keys and their pins; a failure is
// only warned about, since the host itself is gone and `mngr gc` removes
// the keys of hosts that no longer exist.
func (p *Provider) dropHostKeys(ctx context.Context, keys *Keys, id core.HostID) {
	if _, err := RemoveHostKeys(keys, id); err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("could not remove the ssh host keys of host %s (%v); `mngr gc` removes them later", id, err))
	}
}

// cleanupFailed destroys the instance of a failed create, unless the user
// asked to keep it; with the instance go its host keys.
func (p *Provider) cleanupFailed(ctx context.Context, inst Instance, cause error) error {
	if p.cfg.KeepFailedHosts {
		hint := fmt.Sprintf("the VM of host %s (%s) was kept because MNGR_KEEP_FAILED_HOSTS=1", inst.HostID, inst.ID)
		if k, err := p.Keys(); err == nil && inst.PublicIP != "" {
			hint += fmt.Sprintf("; inspect it with `ssh -i %s -o UserKnownHostsFile=%s root@%s`", k.VMKey, k.VMKnownHosts, inst.PublicIP)
		}
		hint += "; delete that VM in the cloud console when done"
		return core.WithHint(fmt.Errorf("set up host %q: %w", inst.HostName, cause), "%s", hint)
	}
	prog := core.ProgressFrom(ctx)
	done := prog.Step("removing the failed VM")
	// The create's context may be cancelled already (an interrupt): clean
	// up on a fresh, bounded one.
	cctx, cancel := core.UndoContext(ctx, 10*time.Minute)
	defer cancel()
	derr := p.client.DestroyInstance(cctx, inst.HostID)
	done(derr)
	p.forgetHost(inst.PublicIP)
	if derr == nil {
		core.LeftoversFrom(ctx).Forget(string(inst.HostID))
		if keys, err := p.Keys(); err == nil {
			p.dropHostKeys(cctx, keys, inst.HostID)
		}
	}
	if derr != nil {
		return core.WithHint(fmt.Errorf("set up host %q: %w (and removing its VM failed: %v)", inst.HostName, cause, derr),
			"the VM %s may remain; run `mngr gc` or delete it in the cloud console", inst.HostID)
	}
	err := fmt.Errorf("set up host %q: %w", inst.HostName, cause)
	if core.HintOf(cause) != "" {
		return err
	}
	hint := "the failed VM was deleted, nothing is left behind; run the create again " +
		"(MNGR_KEEP_FAILED_HOSTS=1 keeps a failed VM for inspection)"
	if errors.Is(cause, sshx.ErrConnectionLost) {
		hint = "the SSH connection to the new VM kept dropping; " + hint
	}
	return core.WithHint(err, "%s", hint)
}

func hostState(s InstanceStatus) core.HostState {
	switch s {
	case StatusPending:
		return core.HostStarting
	case StatusActive:
		return core.HostRunning
	case StatusStopped:
		return core.HostStopped
	case StatusStoppedBilling:
		return core.HostStoppedBilling
	case StatusStopping:
		return core.HostStopping
	case StatusDestroying:
		return core.HostDestroyed
	case StatusFailed:
		return core.HostFailed
	default:
		return core.HostUnknown
	}
}

// userTags returns the instance tags that are not mngr's own bookkeeping.
func userTags(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		if strings.HasPrefix(k, "mngr-") || k == "managed-by" {
			continue
		}
		out[k] = v
	}
	return out
}

func (p *Provider) discovered(inst Instance) core.DiscoveredHost {
	d := core.DiscoveredHost{
		ID:        inst.HostID,
		Name:      inst.HostName,
		Provider:  p.cfg.ProviderName,
		State:     hostState(inst.Status),
		Tags:      userTags(inst.Tags),
		CreatedAt: inst.CreatedAt,
		Size:      inst.Size,
		Region:    inst.Region,
	}
	if hc, ok := p.client.(HostCoster); ok {
		c := hc.InstanceCost(inst, time.Now())
		d.Cost = &c
	}
	if r, ok := p.client.(InstanceRoler); ok {
		d.Role = r.InstanceRole(inst)
	}
	if inst.Status == StatusStoppedBilling {
		d.StateHint = "the VM was powered off from inside but is still allocated and billed for compute; " +
			"run `mngr stop <agent>` to deallocate it"
	}
	if inst.Status == StatusActive && inst.PublicIP != "" && !p.cfg.SkipHostSetup {
		if k, err := p.Keys(); err == nil {
			argv := p.containerExec(inst.PublicIP, k).InteractiveArgv("")
			d.SSH = &core.SSHInfo{
				User:           "root",
				Host:           inst.PublicIP,
				Port:           p.cfg.ContainerSSHPort,
				KeyPath:        k.ContainerKey,
				KnownHostsPath: k.ContainerKnownHosts,
				Command:        core.ShellJoin(argv[:len(argv)-1]),
			}
		}
	}
	return d
}

// offlineHost is the Host of a VM without a usable executor.
func (p *Provider) offlineHost(inst Instance) *core.Host {
	return &core.Host{DiscoveredHost: p.discovered(inst), HostDir: p.cfg.HostDir, SessionPrefix: p.cfg.Prefix, Remote: true}
}

// ListHosts lists the provider's VMs (one cloud list), with agents mirrored
// beside them when the client keeps such a mirror.
func (p *Provider) ListHosts(ctx context.Context) ([]core.DiscoveredHost, error) {
	insts, err := p.client.ListInstances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list hosts of provider %q: %w", p.cfg.ProviderName, err)
	}
	p.seen.remember(insts)
	mirror, hasMirror := p.client.(AgentMirror)
	out := make([]core.DiscoveredHost, 0, len(insts))
	for _, inst := range insts {
		d := p.discovered(inst)
		if hasMirror {
			agents, err := mirror.MirroredAgents(inst)
			if err != nil {
				return nil, fmt.Errorf("read agents mirrored on host %q: %w", inst.HostName, err)
			}
			if agents == nil {
				agents = []core.AgentRecord{}
			}
			d.Agents = agents
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ConnectHost returns the online host, checking with a short command that
// its container answers; a VM that is not running wraps core.ErrHostOffline.
func (p *Provider) ConnectHost(ctx context.Context, id core.HostID) (*core.Host, error) {
	inst, ok := p.seen.running(id)
	if !ok {
		var err error
		if inst, err = p.client.GetInstance(ctx, id); err != nil {
			return nil, fmt.Errorf("find host %s: %w", id, err)
		}
	}
	if inst.Status != StatusActive {
		return nil, core.WithHint(fmt.Errorf("host %q is %s: %w", inst.HostName, hostState(inst.Status), core.ErrHostOffline),
			"start it with `mngr start <agent>`")
	}
	if p.cfg.SkipHostSetup {
		return p.offlineHost(inst), nil
	}
	return p.onlineHost(ctx, inst, p.cfg.ReachTimeout)
}

// onlineHost builds the Host for a running VM and checks, within timeout,
// that its container answers.
func (p *Provider) onlineHost(ctx context.Context, inst Instance, timeout time.Duration) (*core.Host, error) {
	keys, err := p.Keys()
	if err != nil {
		return nil, err
	}
	if inst.PublicIP == "" {
		return nil, fmt.Errorf("host %q has no public ip: %w", inst.HostName, core.ErrHostOffline)
	}
	ex := p.containerExec(inst.PublicIP, keys)
	// The whole check, dial and handshake included, gets timeout; a later
	// redial of this executor gets the same bound.
	ex.Target.DialTimeout = timeout
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// One round trip: the answer, then the record of a refused idle stop.
	probe := "echo ok; cat " + core.ShellQuote(path.Join(p.cfg.HostDir, IdleStopRefusedRelPath)) + " 2>/dev/null; true"
	res, err := ex.Run(cctx, probe, core.RunOptions{})
	answer, refused, _ := strings.Cut(res.Stdout, "\n")
	if err == nil && strings.TrimSpace(answer) != "ok" {
		err = fmt.Errorf("unexpected answer %q (exit %d)", strings.TrimSpace(res.Stdout), res.ExitCode)
	}
	if err != nil {
		return nil, core.WithHint(fmt.Errorf("reach host %q at %s:%d: %v: %w",
			inst.HostName, inst.PublicIP, p.cfg.ContainerSSHPort, err, core.ErrHostOffline),
			"the VM runs but its container does not answer; try `mngr stop <agent>` then `mngr start <agent>`")
	}
	d := p.discovered(inst)
	if hint := idleStopRefusedHint(refused); hint != "" {
		d.StateHint = hint
	}
	return &core.Host{DiscoveredHost: d, HostDir: p.cfg.HostDir, SessionPrefix: p.cfg.Prefix, Exec: ex, Remote: true}, nil
}

// idleStopRefusedHint explains the record the VM's idle stop leaves when
// the cloud refused its self-deallocate ("TIME<TAB>REASON", see
// scripts/idle_stop.sh), or returns "" without one. The record is written
// on the VM, where the agent container can write too: only its first line
// is used, cut to 400 characters; list prints it through core.Printable.
func idleStopRefusedHint(record string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(record), "\n")
	if line == "" {
		return ""
	}
	when, reason, ok := strings.Cut(line, "\t")
	if !ok {
		when, reason = "", line
	}
	if len(reason) > 400 {
		reason = reason[:400]
	}
	at := ""
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(when)); err == nil {
		at = " (last try " + t.UTC().Format(time.RFC3339) + ")"
	}
	return "the VM's idle self-deallocate" + at + " was " + strings.TrimSpace(reason) +
		"; it keeps running and billing: run `mngr stop <agent>` to deallocate it"
}

// DestroyHost deletes the VM, then its host keys and every pin of them (a
// host made before per-host keys loses the pins of its address; the shared
// keys stay for the other such hosts). Idempotent.
func (p *Provider) DestroyHost(ctx context.Context, id core.HostID) error {
	p.seen.forget(id)
	ip := ""
	inst, err := p.client.GetInstance(ctx, id)
	switch {
	case err == nil:
		ip = inst.PublicIP
	case errors.Is(err, core.ErrNotFound):
	default:
		return fmt.Errorf("find host %s: %w", id, err)
	}
	done := core.ProgressFrom(ctx).Step("deleting VM")
	err = p.client.DestroyInstance(ctx, id)
	done(err)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("destroy host %s: %w", id, err)
	}
	p.forgetHost(ip)
	core.LeftoversFrom(ctx).Forget(string(id))
	keys, err := p.Keys()
	if err != nil {
		return err
	}
	p.dropHostKeys(ctx, keys, id)
	return nil
}

// forgetHost drops cached connections and the pins of ip (whichever keys
// they hold).
func (p *Provider) forgetHost(ip string) {
	if ip == "" {
		return
	}
	p.pool.Forget(ip, 22)
	p.pool.Forget(ip, p.cfg.ContainerSSHPort)
	keys, err := p.Keys()
	if err != nil {
		return
	}
	_ = sshx.UnpinHost(keys.VMKnownHosts, ip, 22)
	_ = sshx.UnpinHost(keys.ContainerKnownHosts, ip, p.cfg.ContainerSSHPort)
}

// StopHost stops the agent container (best effort) and deallocates the VM.
// The CLI stops the agents first.
func (p *Provider) StopHost(ctx context.Context, id core.HostID) error {
	p.seen.forget(id)
	inst, err := p.client.GetInstance(ctx, id)
	if err != nil {
		return fmt.Errorf("find host %s: %w", id, err)
	}
	if inst.Status == StatusActive && !p.cfg.SkipHostSetup && inst.PublicIP != "" {
		done := core.ProgressFrom(ctx).Step("stopping container")
		err := p.stopContainer(ctx, inst)
		done(err)
		if err != nil {
			core.ProgressFrom(ctx).Warn(fmt.Sprintf("could not stop the container of host %q cleanly (%v); deallocating the VM anyway", inst.HostName, err))
		}
	}
	p.pool.Forget(inst.PublicIP, 22)
	p.pool.Forget(inst.PublicIP, p.cfg.ContainerSSHPort)
	done := core.ProgressFrom(ctx).Step("deallocating VM")
	err = p.client.StopInstance(ctx, id)
	done(err)
	if err != nil {
		return fmt.Errorf("stop host %q: %w", inst.HostName, err)
	}
	return nil
}

// StartHost starts the VM and its container and returns the host online.
func (p *Provider) StartHost(ctx context.Context, id core.HostID) (*core.Host, error) {
	p.seen.forget(id)
	before, err := p.client.GetInstance(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("find host %s: %w", id, err)
	}
	done := core.ProgressFrom(ctx).Step("starting VM")
	inst, err := p.client.StartInstance(ctx, id)
	done(err)
	if err != nil {
		return nil, fmt.Errorf("start host %q: %w", before.HostName, err)
	}
	if inst.HostID == "" {
		inst.HostID = id
	}
	if inst.HostName == "" {
		inst.HostName = before.HostName
	}
	if inst.Tags == nil {
		inst.Tags = before.Tags
	}
	if p.cfg.SkipHostSetup {
		return p.offlineHost(inst), nil
	}
	if before.PublicIP != "" && before.PublicIP != inst.PublicIP {
		p.forgetHost(before.PublicIP)
	}
	return p.resumeHost(ctx, inst)
}

// PersistAgent mirrors rec beside the VM (replacing a record with the same id).
func (p *Provider) PersistAgent(ctx context.Context, host core.HostID, rec core.AgentRecord) error {
	return p.editMirror(ctx, host, func(agents []core.AgentRecord) []core.AgentRecord {
		out := agents[:0:0]
		for _, a := range agents {
			if a.ID != rec.ID {
				out = append(out, a)
			}
		}
		return append(out, rec)
	})
}

// RemovePersistedAgent drops the mirrored record of agent.
func (p *Provider) RemovePersistedAgent(ctx context.Context, host core.HostID, agent core.AgentID) error {
	return p.editMirror(ctx, host, func(agents []core.AgentRecord) []core.AgentRecord {
		out := agents[:0:0]
		for _, a := range agents {
			if a.ID != agent {
				out = append(out, a)
			}
		}
		return out
	})
}

func (p *Provider) editMirror(ctx context.Context, host core.HostID, edit func([]core.AgentRecord) []core.AgentRecord) error {
	mirror, ok := p.client.(AgentMirror)
	if !ok {
		return fmt.Errorf("provider %q keeps no agent records outside its hosts: %w", p.cfg.ProviderName, core.ErrNotSupported)
	}
	inst, err := p.client.GetInstance(ctx, host)
	if err != nil {
		return fmt.Errorf("find host %s: %w", host, err)
	}
	agents, err := mirror.MirroredAgents(inst)
	if err != nil {
		return fmt.Errorf("read agents mirrored on host %q: %w", inst.HostName, err)
	}
	if err := mirror.MirrorAgents(ctx, host, edit(agents)); err != nil {
		return fmt.Errorf("mirror agents on host %q: %w", inst.HostName, err)
	}
	return nil
}

// hostKeysGCGrace is how old a host's key directory must be before gc may
// remove it for want of a VM: a create in another mngr process makes the
// keys before it asks for the VM, and the VM is not listed until the cloud
// has it (a create with capacity retries can take many minutes).
const hostKeysGCGrace = time.Hour

// CollectGarbage forwards to the client when it collects garbage, then
// removes the host keys (and their pins) of hosts that no longer exist.
func (p *Provider) CollectGarbage(ctx context.Context, dryRun bool) ([]core.GCItem, error) {
	var items []core.GCItem
	if gc, ok := p.client.(core.GarbageCollector); ok {
		var err error
		items, err = gc.CollectGarbage(ctx, dryRun)
		if err != nil {
			return items, fmt.Errorf("collect garbage of provider %q: %w", p.cfg.ProviderName, err)
		}
	}
	keyItems, err := p.collectHostKeys(ctx, dryRun, time.Now().Add(-hostKeysGCGrace))
	items = append(items, keyItems...)
	if err != nil {
		return items, fmt.Errorf("collect garbage of provider %q: %w", p.cfg.ProviderName, err)
	}
	return items, nil
}

// collectHostKeys removes the key directories, last changed before
// cutoff, of host ids the cloud no longer lists.
func (p *Provider) collectHostKeys(ctx context.Context, dryRun bool, cutoff time.Time) ([]core.GCItem, error) {
	keys, err := p.Keys()
	if err != nil {
		return nil, err
	}
	dirs, err := listHostKeyDirs(keys.Dir)
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	insts, err := p.client.ListInstances(ctx)
	if err != nil {
		return nil, fmt.Errorf("list hosts to find stale host keys: %w", err)
	}
	live := make(map[core.HostID]bool, len(insts))
	for _, inst := range insts {
		live[inst.HostID] = true
	}
	var items []core.GCItem
	for _, d := range dirs {
		if live[d.id] || d.modTime.After(cutoff) {
			continue
		}
		item := core.GCItem{Kind: "host keys", Name: string(d.id), ID: d.dir,
			Reason: "ssh host keys of a host that no longer exists"}
		if !dryRun {
			if _, err := RemoveHostKeys(keys, d.id); err != nil {
				item.Error = err.Error()
			} else {
				item.Done = true
			}
		}
		items = append(items, item)
	}
	return items, nil
}

// RenameHost renames host id: the name the cloud keeps on its VM (which a
// listing shows, also while the VM is deallocated), keeping the container
// name the host was made with in TagContainerName, and, when the VM runs
// and its container answers, host_name in the host's own record
// (<host dir>/data.json); a host that does not answer keeps its old name
// there until it is renamed again, which nothing reads to find it.
func (p *Provider) RenameHost(ctx context.Context, id core.HostID, newName string) error {
	rn, ok := p.client.(InstanceRenamer)
	if !ok {
		return fmt.Errorf("provider %q cannot rename hosts: %w", p.cfg.ProviderName, core.ErrNotSupported)
	}
	if err := core.ValidateName("host", newName); err != nil {
		return err
	}
	inst, err := p.client.GetInstance(ctx, id)
	if err != nil {
		return fmt.Errorf("find host %s: %w", id, err)
	}
	if inst.HostName == newName {
		return nil
	}
	extra := map[string]string{}
	if inst.Tags[TagContainerName] == "" {
		extra[TagContainerName] = p.containerNameOf(inst)
	}
	p.seen.forget(id)
	if err := rn.RenameInstance(ctx, id, newName, extra); err != nil {
		return fmt.Errorf("rename host %q: %w", inst.HostName, err)
	}
	if inst.Status != StatusActive || p.cfg.SkipHostSetup {
		return nil
	}
	h, err := p.onlineHost(ctx, inst, p.cfg.ReachTimeout)
	if err == nil {
		err = renameInHostRecord(ctx, h, p.cfg.HostDir, newName)
	}
	if err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("host %q is renamed %q in the cloud, but its own record kept the old name (%v)", inst.HostName, newName, err))
	}
	return nil
}

// renameInHostRecord sets host_name in the host's data.json, keeping every
// other field as it is.
func renameInHostRecord(ctx context.Context, h *core.Host, hostDir, newName string) error {
	p := path.Join(hostDir, "data.json")
	res, err := h.Exec.Run(ctx, "cat "+core.ShellQuote(p), core.RunOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if !res.OK() {
		return fmt.Errorf("read %s: exit %d: %s", p, res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(res.Stdout), &raw); err != nil {
		return fmt.Errorf("parse %s: %w", p, err)
	}
	name, _ := json.Marshal(newName)
	now, _ := json.Marshal(time.Now().UTC())
	raw["host_name"], raw["updated_at"] = name, now
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", p, err)
	}
	ex, ok := h.Exec.(*sshx.Executor)
	if !ok {
		return fmt.Errorf("host %q: unexpected executor %T", h.Name, h.Exec)
	}
	return ex.WriteFile(ctx, p, append(data, '\n'), 0o644)
}
