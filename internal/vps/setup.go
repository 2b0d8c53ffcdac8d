package vps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

// Defaults for the agent image.
const (
	// BakedImage is the image name of the tarball a VM image may carry.
	BakedImage = "mngr-agent:latest"
	// FallbackImage is pulled when the VM carries no baked image.
	FallbackImage = "debian:bookworm-slim"
)

// Container labels.
const (
	LabelHostID   = "mngr.host-id"
	LabelHostName = "mngr.host-name"
	LabelProvider = "mngr.provider"
	LabelTags     = "mngr.tags"
)

// probeTimeout bounds one short command (a marker check, `echo ok`).
const probeTimeout = 10 * time.Second

func (p *Provider) vmExec(ip string, k *Keys) *sshx.Executor {
	return &sshx.Executor{Pool: p.pool, Target: sshx.Target{
		Host: ip, Port: 22, User: "root", KeyPath: k.VMKey, KnownHostsPath: k.VMKnownHosts,
	}}
}

func (p *Provider) containerExec(ip string, k *Keys) *sshx.Executor {
	return &sshx.Executor{Pool: p.pool, Target: sshx.Target{
		Host: ip, Port: p.cfg.ContainerSSHPort, User: "root", KeyPath: k.ContainerKey, KnownHostsPath: k.ContainerKnownHosts,
	}}
}

// ContainerName returns the agent container's name for a host made with
// the name hostName.
func (p *Provider) ContainerName(hostName string) string { return p.cfg.Prefix + hostName }

// TagContainerName is the instance tag that keeps a host's container name
// once the host is renamed: the container keeps the name it was made with
// (the cloud can rename a host while its VM is deallocated, when the
// container cannot be reached).
const TagContainerName = "mngr-container"

// containerNameOf is the name of inst's agent container.
func (p *Provider) containerNameOf(inst Instance) string {
	if n := inst.Tags[TagContainerName]; n != "" {
		return n
	}
	return p.ContainerName(inst.HostName)
}

// run runs script on ex within timeout and fails on a non-zero exit,
// naming what it did and quoting the tail of its output.
func run(ctx context.Context, ex core.Executor, what, script string, timeout time.Duration, opts core.RunOptions) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := ex.Run(cctx, script, opts)
	if err != nil {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return "", fmt.Errorf("%s: no result within %ds: %w", what, int(timeout.Seconds()), core.ErrTimeout)
		}
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if !res.OK() {
		out := strings.TrimSpace(res.Stderr)
		if out == "" {
			out = strings.TrimSpace(res.Stdout)
		}
		return res.Stdout, fmt.Errorf("%s failed (exit %d): %s", what, res.ExitCode, lastLines(out, 50))
	}
	return res.Stdout, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// step runs fn as a named progress step; its error names the step.
func step(ctx context.Context, name string, fn func() error) error {
	done := core.ProgressFrom(ctx).Step(name)
	err := fn()
	done(err)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// sshRetry is how setup treats SSH connections that drop.
type sshRetry struct {
	// tries is how many times a command that is safe to repeat runs when
	// its connection drops (sshx.ErrConnectionLost): 1 + retries.
	tries int
	// pause is the wait before each retry.
	pause time.Duration
	// cloudInitPause is the wait after a cloud-init check that failed.
	cloudInitPause time.Duration
}

// defaultSSHRetry gives each idempotent setup command 3 tries a second
// apart: room for an sshd restart, while a VM whose connections keep
// dropping fails the create within seconds of the third drop.
var defaultSSHRetry = sshRetry{tries: 3, pause: time.Second, cloudInitPause: 2 * time.Second}

// retryDropped runs fn, and runs it again after a pause while it fails
// because its SSH connection dropped, at most p.retry.tries times in all.
// fn must be safe to repeat: a dropped try may have run on the VM. Other
// errors, timeouts included, end it at once.
func (p *Provider) retryDropped(ctx context.Context, what string, fn func() error) error {
	for try := 1; ; try++ {
		err := fn()
		if err == nil || !errors.Is(err, sshx.ErrConnectionLost) {
			return err
		}
		if try >= p.retry.tries {
			return fmt.Errorf("%w (the SSH connection dropped on all %d tries)", err, try)
		}
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("%s: the SSH connection dropped (%v); trying again (%d of %d)", what, err, try+1, p.retry.tries))
		if serr := core.Sleep(ctx, p.retry.pause); serr != nil {
			return err
		}
	}
}

// runRetry is run, through retryDropped, for a script that is safe to
// repeat; stdin, when not empty, is fed to each try afresh.
func (p *Provider) runRetry(ctx context.Context, ex core.Executor, what, script string, timeout time.Duration, stdin string) (string, error) {
	var out string
	err := p.retryDropped(ctx, what, func() error {
		var opts core.RunOptions
		if stdin != "" {
			opts.Stdin = strings.NewReader(stdin)
		}
		var err error
		out, err = run(ctx, ex, what, script, timeout, opts)
		return err
	})
	return out, err
}

// setupHost brings a freshly created VM to a running agent container.
func (p *Provider) setupHost(ctx context.Context, inst Instance, keys *Keys, hk *HostKeys, req core.CreateHostRequest, dockerArgs []string) (*core.Host, error) {
	ip := inst.PublicIP
	if ip == "" {
		return nil, fmt.Errorf("vm of host %q has no public ip", inst.HostName)
	}
	vm := p.vmExec(ip, keys)
	if err := step(ctx, "waiting for the VM's sshd", func() error { return p.connectVM(ctx, ip, keys, hk) }); err != nil {
		return nil, err
	}
	if err := step(ctx, "waiting for cloud-init", func() error { return p.waitCloudInit(ctx, vm) }); err != nil {
		return nil, err
	}
	dataDir := VMHostDataDir(inst.HostID)
	if _, err := p.runRetry(ctx, vm, "prepare host data dir", "mkdir -p "+core.ShellJoin([]string{
		dataDir + "/host_dir/commands", dataDir + "/agents",
	}), probeTimeout, ""); err != nil {
		return nil, err
	}
	var image string
	if err := step(ctx, "getting the agent image", func() error {
		var err error
		image, err = p.prepareImage(ctx, vm, keys, inst, dockerArgs)
		return err
	}); err != nil {
		return nil, err
	}
	if err := step(ctx, "starting the agent container", func() error {
		return p.runContainer(ctx, vm, inst, image, req)
	}); err != nil {
		return nil, err
	}
	if err := step(ctx, "setting up ssh in the container", func() error {
		return p.containerSSH(ctx, vm, keys, hk, inst, true)
	}); err != nil {
		return nil, err
	}
	h := &core.Host{DiscoveredHost: p.discovered(inst), HostDir: p.cfg.HostDir, SessionPrefix: p.cfg.Prefix, Exec: p.containerExec(ip, keys), Remote: true}
	h.State = core.HostRunning
	h.Image = image
	if err := step(ctx, "writing host records", func() error {
		return p.writeHostRecords(ctx, vm, h, inst, hk, req, image)
	}); err != nil {
		return nil, err
	}
	p.startIdleWatcher(ctx, h)
	return h, nil
}

// DefaultIdlePolicy is the policy of a host created without idle flags:
// the provider's idle_timeout_seconds (none when negative) with the io
// sources.
func (p *Provider) DefaultIdlePolicy() core.IdlePolicy {
	pol, err := core.NewIdlePolicy(max(0, p.cfg.IdleTimeoutSeconds), core.DefaultIdleMode)
	if err != nil {
		panic(err) // the default mode is always known
	}
	return pol
}

// hostIdlePolicy is the idle policy of a new host: the default, with the
// request's timeout and then its idle flags applied.
func (p *Provider) hostIdlePolicy(req core.CreateHostRequest) (core.IdlePolicy, error) {
	pol := p.DefaultIdlePolicy()
	if req.IdleTimeoutSeconds != 0 {
		pol.TimeoutSeconds = max(0, req.IdleTimeoutSeconds)
	}
	return req.Idle.Apply(pol)
}

// connectVM pins the VM's injected host key for ip:22 (before any
// connection) and waits for its sshd.
func (p *Provider) connectVM(ctx context.Context, ip string, keys *Keys, hk *HostKeys) error {
	if err := sshx.PinHostKey(keys.VMKnownHosts, ip, 22, hk.VMHostKeyPub); err != nil {
		return fmt.Errorf("pin vm host key: %w", err)
	}
	return sshx.WaitForSSH(ctx, net.JoinHostPort(ip, "22"), p.cfg.SSHConnectTimeout)
}

// waitCloudInit polls the ready marker until CloudInitTimeout. SSH errors
// while polling count as "not ready" (sshd restarts during setup) and are
// followed by a pause of p.retry.cloudInitPause, so a VM whose checks fail at
// once gets about 1 + CloudInitTimeout/cloudInitPause checks.
func (p *Provider) waitCloudInit(ctx context.Context, vm core.Executor) error {
	timeout := p.cfg.CloudInitTimeout
	deadline := time.Now().Add(timeout)
	var last error
	checks := 0
	for {
		checks++
		out, err := run(ctx, vm, "check cloud-init marker", cloudInitProbe, probeTimeout, core.RunOptions{})
		if ctx.Err() != nil {
			return fmt.Errorf("wait for cloud-init: %w", ctx.Err())
		}
		if err == nil {
			fields := strings.Fields(out)
			switch {
			case len(fields) > 0 && fields[0] == "READY":
				return nil
			case len(fields) > 0 && fields[0] == "FAILED":
				return core.WithHint(fmt.Errorf("cloud-init setup failed on the VM in step(s): %s", strings.Join(fields[1:], ", ")),
					"see /var/log/cloud-init-output.log on the VM (MNGR_KEEP_FAILED_HOSTS=1 keeps it for inspection)")
			}
		}
		last = err
		if time.Now().After(deadline) {
			break
		}
		if err == nil {
			continue // the probe itself waited
		}
		if err := core.Sleep(ctx, min(p.retry.cloudInitPause, time.Until(deadline))); err != nil {
			return fmt.Errorf("wait for cloud-init: %w", err)
		}
	}
	if last != nil {
		// The checks themselves failed: say so, not that cloud-init is slow.
		return core.WithHint(fmt.Errorf("cloud-init state unknown after %ds: %d checks over SSH failed, the last with: %v: %w",
			int(timeout.Seconds()), checks, last, core.ErrTimeout),
			"the VM's sshd answered but its sessions failed; check the VM's network and sshd (MNGR_KEEP_FAILED_HOSTS=1 keeps it for inspection), then run the create again")
	}
	return fmt.Errorf("cloud-init did not complete within %ds; docker may not be installed on the VM: %w", int(timeout.Seconds()), core.ErrTimeout)
}

// prepareImage makes the agent image available on the VM and returns its name.
func (p *Provider) prepareImage(ctx context.Context, vm *sshx.Executor, keys *Keys, inst Instance, dockerArgs []string) (string, error) {
	if len(dockerArgs) > 0 {
		return p.buildImage(ctx, vm, keys, inst, dockerArgs)
	}
	image := p.cfg.DefaultImage
	if image == "" {
		out, err := p.runRetry(ctx, vm, "look for the baked agent image", "if [ -f "+VMImageTar+" ]; then echo yes; else echo no; fi", probeTimeout, "")
		if err != nil {
			return "", err
		}
		image = FallbackImage
		if strings.TrimSpace(out) == "yes" {
			image = BakedImage
		}
	}
	q := core.ShellQuote(image)
	script := "docker image inspect " + q + " >/dev/null 2>&1 && exit 0\n" +
		"if [ -f " + VMImageTar + " ]; then docker load -i " + VMImageTar + " >/dev/null; fi\n" +
		"docker image inspect " + q + " >/dev/null 2>&1 && exit 0\n" +
		"docker pull " + q + "\n"
	if _, err := p.runRetry(ctx, vm, fmt.Sprintf("get image %q on the VM", image), script, p.cfg.ImageTimeout, ""); err != nil {
		return "", err
	}
	return image, nil
}

// containerRunArgs returns the `docker run` words for a host.
func (p *Provider) containerRunArgs(inst Instance, image string, req core.CreateHostRequest) []string {
	tags := req.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	tagJSON, err := json.Marshal(tags)
	if err != nil {
		tagJSON = []byte("{}")
	}
	args := []string{"docker", "run", "-d",
		"--name", p.containerNameOf(inst),
		"--restart", "unless-stopped",
		"-p", "0.0.0.0:" + strconv.Itoa(p.cfg.ContainerSSHPort) + ":22",
		"-v", VMHostDataDir(inst.HostID) + ":/mngr-vol",
		"--label", LabelHostID + "=" + string(inst.HostID),
		"--label", LabelHostName + "=" + inst.HostName,
		"--label", LabelProvider + "=" + p.cfg.ProviderName,
		"--label", LabelTags + "=" + string(tagJSON),
	}
	args = append(args, p.cfg.StartArgs...)
	args = append(args, req.StartArgs...)
	return append(args, "--entrypoint", "sh", image, "-c", containerMain)
}

// containerMain is the agent container's main process. It waits for TERM;
// when the container starts again with its host key in place (dockerd or
// the VM restarted it: --restart unless-stopped) it first starts sshd, so
// the host answers mngr (list, stop) before any mngr start. At the first
// start there is no key yet: containerSSH installs it and starts sshd.
var containerMain = "trap 'exit 0' TERM; if [ -s /etc/ssh/ssh_host_ed25519_key ]; then mkdir -p /run/sshd && " +
	core.ShellJoin(sshdDaemonArgs()) + "; fi; tail -f /dev/null & wait"

// sshdDaemonArgs are sshdArgs without -D: sshd detaches.
func sshdDaemonArgs() []string {
	out := make([]string, 0, len(sshdArgs))
	for _, a := range sshdArgs {
		if a != "-D" {
			out = append(out, a)
		}
	}
	return out
}

// containerRunScript (scripts/container_run.sh) starts the host's agent
// container, idempotently (STYLE rule 6): a container of that name labelled
// with this host is the one an earlier try started before its connection
// dropped, so it is started if need be and kept; one of another host is an
// error; none means `docker run`.
func (p *Provider) containerRunScript(inst Instance, image string, req core.CreateHostRequest) string {
	args := append([]string{p.containerNameOf(inst), string(inst.HostID), LabelHostID}, p.containerRunArgs(inst, image, req)...)
	return core.ScriptCall(containerRunSh, args...)
}

func (p *Provider) runContainer(ctx context.Context, vm core.Executor, inst Instance, image string, req core.CreateHostRequest) error {
	_, err := p.runRetry(ctx, vm, "docker run", p.containerRunScript(inst, image, req), 120*time.Second, "")
	return err
}

// containerSSHScript (scripts/container_ssh.sh) installs what the container
// needs, links the host dir and installs mngr's client key and this host's
// container host key (no other host's). It is sent on stdin so keys stay off
// argv.
func (p *Provider) containerSSHScript(keys *Keys, hk *HostKeys, hostKeyPEM string) string {
	return core.ScriptCall(containerSSHSh, p.cfg.HostDir, keys.ContainerKeyPub, ensureNewline(hostKeyPEM), hk.ContainerHostKeyPub)
}

// sshdArgs starts the container's sshd in the foreground of a detached exec.
var sshdArgs = []string{"/usr/sbin/sshd", "-D", "-e",
	"-o", "MaxSessions=100", "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
	"-o", "HostKey=/etc/ssh/ssh_host_ed25519_key"}

// containerSSH (re)starts the container's sshd, pins its host key and waits
// for it; install also runs the setup script first.
func (p *Provider) containerSSH(ctx context.Context, vm core.Executor, keys *Keys, hk *HostKeys, inst Instance, install bool) error {
	name := p.containerNameOf(inst)
	if install {
		pem, err := readFile(hk.ContainerHostKey)
		if err != nil {
			return err
		}
		// The script rewrites the same files each time: safe to repeat.
		if _, err := p.runRetry(ctx, vm, "set up ssh in container "+name,
			"docker exec -i --workdir / "+core.ShellQuote(name)+" sh -s",
			p.cfg.ContainerSetupTimeout, p.containerSSHScript(keys, hk, pem)); err != nil {
			return err
		}
	}
	// A second sshd, should a dropped try have started one, cannot bind
	// the port and exits: safe to repeat.
	// One detached exec makes sshd's privilege-separation dir and becomes
	// sshd (each docker exec costs a few hundred ms on a busy VM).
	start := "docker exec -d " + core.ShellQuote(name) + " sh -c " +
		core.ShellQuote("mkdir -p /run/sshd && exec "+core.ShellJoin(sshdArgs))
	if _, err := p.runRetry(ctx, vm, "start sshd in container "+name, start, 30*time.Second, ""); err != nil {
		return err
	}
	if err := sshx.PinHostKey(keys.ContainerKnownHosts, inst.PublicIP, p.cfg.ContainerSSHPort, hk.ContainerHostKeyPub); err != nil {
		return fmt.Errorf("pin container host key: %w", err)
	}
	return sshx.WaitForSSH(ctx, net.JoinHostPort(inst.PublicIP, strconv.Itoa(p.cfg.ContainerSSHPort)), p.cfg.SSHConnectTimeout)
}

// hostStateFile is the VM-side record of a host (host_state.json).
type hostStateFile struct {
	CertifiedHostData         core.HostRecord `json:"certified_host_data"`
	VMIP                      string          `json:"vm_ip"`
	SSHHostPublicKey          string          `json:"ssh_host_public_key"`
	ContainerSSHHostPublicKey string          `json:"container_ssh_host_public_key"`
	Config                    hostStateConfig `json:"config"`
}

type hostStateConfig struct {
	InstanceID    string   `json:"instance_id"`
	Region        string   `json:"region"`
	Size          string   `json:"size"`
	StartArgs     []string `json:"start_args"`
	Image         string   `json:"image"`
	ContainerName string   `json:"container_name"`
	DataDir       string   `json:"data_dir"`
}

func (p *Provider) writeHostRecords(ctx context.Context, vm *sshx.Executor, h *core.Host, inst Instance, hk *HostKeys, req core.CreateHostRequest, image string) error {
	now := time.Now().UTC()
	tags := req.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	pol, err := p.hostIdlePolicy(req)
	if err != nil {
		return err
	}
	rec := core.HostRecord{
		HostID:             inst.HostID,
		HostName:           inst.HostName,
		IdleTimeoutSeconds: pol.TimeoutSeconds,
		ActivitySources:    pol.Sources,
		CreatedAt:          now,
		UpdatedAt:          now,
		Image:              h.Image,
		GeneratedWorkDirs:  []string{},
		UserTags:           tags,
		TmuxSessionPrefix:  p.cfg.Prefix,
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode host record: %w", err)
	}
	ex, ok := h.Exec.(*sshx.Executor)
	if !ok {
		return fmt.Errorf("host %q: unexpected executor %T", inst.HostName, h.Exec)
	}
	// WriteFile writes a temporary file and renames it: safe to repeat.
	dataPath := path.Join(p.cfg.HostDir, "data.json")
	if err := p.retryDropped(ctx, "write "+dataPath, func() error {
		return ex.WriteFile(ctx, dataPath, append(data, '\n'), 0o644)
	}); err != nil {
		return err
	}
	// The live policy the idle watcher reads (mngr limit rewrites it).
	polPath := core.IdlePolicyPath(h)
	if err := p.retryDropped(ctx, "write "+polPath, func() error {
		return ex.WriteFile(ctx, polPath, []byte(core.RenderIdlePolicy(pol)), 0o644)
	}); err != nil {
		return err
	}
	state := hostStateFile{
		CertifiedHostData:         rec,
		VMIP:                      inst.PublicIP,
		SSHHostPublicKey:          hk.VMHostKeyPub,
		ContainerSSHHostPublicKey: hk.ContainerHostKeyPub,
		Config: hostStateConfig{
			InstanceID:    inst.ID,
			Region:        inst.Region,
			Size:          inst.Size,
			StartArgs:     append(append([]string{}, p.cfg.StartArgs...), req.StartArgs...),
			Image:         image,
			ContainerName: p.containerNameOf(inst),
			DataDir:       VMHostDataDir(inst.HostID),
		},
	}
	sdata, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return fmt.Errorf("encode host state: %w", err)
	}
	statePath := path.Join(VMHostDataDir(inst.HostID), "host_state.json")
	return p.retryDropped(ctx, "write "+statePath, func() error {
		return vm.WriteFile(ctx, statePath, append(sdata, '\n'), 0o644)
	})
}

// startIdleWatcher writes and launches the idle watcher in the container
// when the VM can stop itself; failures are only warned about. The
// watcher runs even under a disabled policy: it reads the host's
// idle_policy at every check, so mngr limit can enable it later. Its
// timeout argument is the provider's default, for a host without a policy
// file (made by an older mngr).
func (p *Provider) startIdleWatcher(ctx context.Context, h *core.Host) {
	ex, ok := h.Exec.(*sshx.Executor)
	if !ok {
		return
	}
	// Every start of the host is its boot activity.
	if _, err := run(ctx, ex, "record boot activity", core.StampHostActivityScript(h, core.SourceBoot), probeTimeout, core.RunOptions{}); err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("boot activity not recorded on host %q: %v", h.Name, err))
	}
	if _, ok := p.client.(SelfStopper); !ok {
		return
	}
	timeout := max(0, p.cfg.IdleTimeoutSeconds)
	script := path.Join(p.cfg.HostDir, "commands", "idle_watcher.sh")
	if err := ex.WriteFile(ctx, script, []byte(IdleWatcherScript), 0o755); err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("idle watcher not started on host %q: %v", h.Name, err))
		return
	}
	logDir := path.Join(p.cfg.HostDir, "logs")
	// A new watcher (after a create or a start) starts with no sentinel and
	// no record of an earlier refused idle stop.
	launch := "mkdir -p " + core.ShellQuote(logDir) + " && rm -f " + core.ShellJoin([]string{path.Join(p.cfg.HostDir, SentinelRelPath), path.Join(p.cfg.HostDir, IdleStopRefusedRelPath)}) +
		" && nohup sh " + core.ShellJoin([]string{script, p.cfg.HostDir, strconv.Itoa(timeout), strconv.Itoa(idleMaxCheck)}) +
		" </dev/null >>" + core.ShellQuote(path.Join(logDir, "idle_watcher.log")) + " 2>&1 &"
	if _, err := run(ctx, ex, "start idle watcher", launch, probeTimeout, core.RunOptions{}); err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("idle watcher not started on host %q: %v", h.Name, err))
	}
}

// idleMaxCheck bounds how long the watcher sleeps between checks (it
// checks every tenth of the timeout, at least every second): a policy
// change applies within it.
const idleMaxCheck = 30

// stopContainer stops the agent container over the VM's SSH.
func (p *Provider) stopContainer(ctx context.Context, inst Instance) error {
	keys, hk, err := p.hostKeys(inst.HostID)
	if err != nil {
		return err
	}
	if err := sshx.PinHostKey(keys.VMKnownHosts, inst.PublicIP, 22, hk.VMHostKeyPub); err != nil {
		return fmt.Errorf("pin vm host key: %w", err)
	}
	_, err = run(ctx, p.vmExec(inst.PublicIP, keys), "docker stop",
		"docker stop -t 10 "+core.ShellQuote(p.containerNameOf(inst)), 60*time.Second, core.RunOptions{})
	return err
}

// resumeHost brings a started VM's container and sshd back and returns the
// host online.
func (p *Provider) resumeHost(ctx context.Context, inst Instance) (*core.Host, error) {
	keys, hk, err := p.hostKeys(inst.HostID)
	if err != nil {
		return nil, err
	}
	if inst.PublicIP == "" {
		return nil, fmt.Errorf("started vm of host %q has no public ip", inst.HostName)
	}
	if err := step(ctx, "waiting for the VM's sshd", func() error { return p.connectVM(ctx, inst.PublicIP, keys, hk) }); err != nil {
		return nil, err
	}
	vm := p.vmExec(inst.PublicIP, keys)
	name := core.ShellQuote(p.containerNameOf(inst))
	// dockerd may still be starting after boot: wait for it, bounded.
	startScript := `i=0
until docker info >/dev/null 2>&1; do i=$((i+1)); if [ $i -ge 60 ]; then echo "docker is not running on the VM" >&2; exit 1; fi; sleep 1; done
docker start ` + name + ` >/dev/null`
	if err := step(ctx, "starting the agent container", func() error {
		_, err := p.runRetry(ctx, vm, "docker start", startScript, 120*time.Second, "")
		return err
	}); err != nil {
		return nil, err
	}
	if err := step(ctx, "starting ssh in the container", func() error {
		return p.containerSSH(ctx, vm, keys, hk, inst, false)
	}); err != nil {
		return nil, err
	}
	// Just after a start, give the container the longer setup probe bound.
	h, err := p.onlineHost(ctx, inst, probeTimeout)
	if err != nil {
		return nil, err
	}
	p.startIdleWatcher(ctx, h)
	return h, nil
}

var _ core.OuterHostRunner = (*Provider)(nil)

// RunOuter runs script as root on host id's VM, outside its agent
// container (--post-host-create-outer-command).
func (p *Provider) RunOuter(ctx context.Context, id core.HostID, script string, opts core.RunOptions) (core.RunResult, error) {
	inst, ok := p.seen.running(id)
	if !ok {
		var err error
		if inst, err = p.client.GetInstance(ctx, id); err != nil {
			return core.RunResult{}, fmt.Errorf("find host %s: %w", id, err)
		}
	}
	if inst.PublicIP == "" || inst.Status != StatusActive {
		return core.RunResult{}, fmt.Errorf("the vm of host %q is not running: %w", inst.HostName, core.ErrHostOffline)
	}
	keys, err := p.Keys()
	if err != nil {
		return core.RunResult{}, err
	}
	return p.vmExec(inst.PublicIP, keys).Run(ctx, script, opts)
}
