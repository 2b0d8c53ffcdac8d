// Package docker is azsim's "docker" VM backend: every simulated VM is a
// real machine, a Docker container running systemd, sshd, its own dockerd
// and the real cloud-init against a NoCloud seed, published on its own
// loopback address. Inside each VM, 169.254.169.254 answers as IMDS and the
// ARM URL mngr was configured with reaches azsim, both through unix sockets
// this backend serves.
package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/core"
)

var _ vm.Backend = (*Backend)(nil)

// Labels on every container and volume the backend makes.
const (
	LabelAzsim      = "dev.mngr.azsim"
	LabelDataDir    = "dev.mngr.azsim.data-dir"
	LabelResourceID = "dev.mngr.azsim.resource-id"
	labelKey        = "dev.mngr.azsim.key"
)

// Where things appear inside a VM.
const (
	guestSeedDir   = "/var/lib/cloud/seed/nocloud"
	guestCloudCfg  = "/etc/cloud/cloud.cfg.d/91_azsim_vm.cfg"
	guestCAFile    = "/usr/local/share/ca-certificates/azsim-ca.crt"
	guestAgentTar  = "/var/lib/mngr/images/agent.tar"
	guestDockerDir = "/var/lib/docker"
)

// Options configure the docker backend.
type Options struct {
	// DataDir is azsim's data dir; machine state lives in DataDir/vm-docker.
	DataDir string
	// ARMURL is the ARM endpoint exactly as mngr is configured with it
	// (https://127.0.0.1:PORT); inside every VM the same URL reaches azsim.
	ARMURL string
	// ARMSocket is a unix socket on which azsim also serves ARM (TLS); the
	// VMs' ARM connections are piped to it. "" pipes to ARMURL's TCP address.
	ARMSocket string
	// CAFile is azsim's CA certificate (PEM); every VM trusts it.
	CAFile string
	// IssueMIToken issues managed-identity tokens for in-guest IMDS requests.
	IssueMIToken TokenIssuer
	// Images are the images scripts/images.sh built.
	Images Images
	// PublishPorts are the VM ports published on its public IP; default
	// [22, 2222] (sshd and the agent container's SSH port).
	PublishPorts []int
	// BootTimeout bounds a boot until sshd answers; default 5 minutes.
	BootTimeout time.Duration
	// StopTimeout is how long a stop waits for a clean guest shutdown; default 30 seconds.
	StopTimeout time.Duration
	// DockerBin is the docker client; default "docker".
	DockerBin string
	// KeepFailed leaves a machine that failed to boot for inspection.
	KeepFailed bool
}

// Backend runs simulated VMs as Docker containers. It is safe for
// concurrent use; operations on one VM are serialized.
type Backend struct {
	opts    Options
	dataDir string
	root    string
	docker  dockerCLI
	arm     *armListen

	mu       sync.Mutex
	machines map[string]*machine // by lower-case resource id
}

// machine is one VM's persisted state (DataDir/vm-docker/KEY/state.json).
type machine struct {
	// Spec is the VM as last created or started, without its custom data.
	Spec         vm.Spec `json:"spec"`
	Key          string  `json:"key"`
	Container    string  `json:"container"`
	Volume       string  `json:"volume"`
	HostDir      string  `json:"hostDir"`
	AddedAddress bool    `json:"addedAddress"`
	Deallocated  bool    `json:"deallocated"`
	ResumeOnOpen bool    `json:"resumeOnOpen"`

	mu        sync.Mutex
	endpoints *guestEndpoints
}

// New checks docker and the images, then takes over the machines of a
// previous run on the same data dir (serving their IMDS and ARM sockets,
// restarting those that were running when it last closed). Containers of
// data dirs that no longer exist are removed.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.DataDir == "" {
		return nil, fmt.Errorf("docker vm backend: data dir: %w", core.ErrInvalidInput)
	}
	if opts.Images.VM == "" {
		return nil, core.WithHint(fmt.Errorf("docker vm backend: no simulated-VM image: %w", core.ErrUnavailable),
			"build the images with scripts/images.sh and pass its images.env")
	}
	if opts.IssueMIToken == nil {
		opts.IssueMIToken = func(string, string) (string, time.Time, error) {
			return "", time.Time{}, errors.New("this azsim issues no managed-identity tokens")
		}
	}
	if len(opts.PublishPorts) == 0 {
		opts.PublishPorts = []int{22, 2222}
	}
	if opts.BootTimeout <= 0 {
		opts.BootTimeout = 5 * time.Minute
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.DockerBin == "" {
		opts.DockerBin = "docker"
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("docker vm backend: data dir %q: %w", opts.DataDir, err)
	}
	b := &Backend{
		opts:     opts,
		dataDir:  dataDir,
		root:     filepath.Join(dataDir, "vm-docker"),
		docker:   dockerCLI{bin: opts.DockerBin},
		machines: map[string]*machine{},
	}
	if opts.ARMURL != "" {
		a, err := parseARMURL(opts.ARMURL)
		if err != nil {
			return nil, fmt.Errorf("docker vm backend: %w", err)
		}
		b.arm = &a
	}
	for _, f := range []struct{ what, path string }{{"CA file", opts.CAFile}, {"agent image tarball", opts.Images.AgentTar}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, core.WithHint(fmt.Errorf("docker vm backend: %s: %w", f.what, err), "build the images with scripts/images.sh")
		}
	}
	if _, err := b.docker.run(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		return nil, core.WithHint(fmt.Errorf("docker vm backend: docker is not answering: %w: %w", err, core.ErrUnavailable),
			"start dockerd (systemctl start docker) or use --vm-backend none")
	}
	if _, err := b.docker.run(ctx, "image", "inspect", "--format", "{{.Id}}", opts.Images.VM); err != nil {
		return nil, core.WithHint(fmt.Errorf("docker vm backend: image %q: %w: %w", opts.Images.VM, err, core.ErrUnavailable),
			"build the images with scripts/images.sh")
	}
	if err := os.MkdirAll(b.root, 0o755); err != nil { //nolint:gosec // seed and socket dirs are read by the VMs
		return nil, fmt.Errorf("docker vm backend: create %q: %w", b.root, err)
	}
	if opts.Images.AgentTar != "" {
		tar, err := keepAgentTar(b.root, opts.Images.AgentTar)
		if err != nil {
			return nil, fmt.Errorf("docker vm backend: %w", err)
		}
		b.opts.Images.AgentTar = tar
	}
	b.pruneOrphans(ctx)
	if err := b.adoptMachines(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Name returns "docker".
func (b *Backend) Name() string { return "docker" }

// Create boots the VM's machine and returns once its sshd answers on
// PublicIP:22. Calling it again for an existing machine only refreshes what
// the backend knows of the VM (identity, keys for IMDS) and waits for sshd.
func (b *Backend) Create(ctx context.Context, spec vm.Spec) error {
	m := b.lockMachine(spec)
	defer m.mu.Unlock()
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	if status == "" {
		return b.boot(ctx, m, spec)
	}
	b.refreshSpec(m, spec)
	if !isRunning(status) {
		return b.startLocked(ctx, m, spec)
	}
	if err := b.saveState(m); err != nil {
		return err
	}
	return b.waitSSH(ctx, m)
}

// Start starts a deallocated or stopped machine with its disk, host keys
// and address. A machine whose container is gone boots afresh.
func (b *Backend) Start(ctx context.Context, spec vm.Spec) error {
	m := b.lockMachine(spec)
	defer m.mu.Unlock()
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	if status == "" {
		return b.boot(ctx, m, spec)
	}
	if spec.PublicIP != "" && m.Spec.PublicIP != "" && spec.PublicIP != m.Spec.PublicIP {
		return fmt.Errorf("start vm %q: its machine is published on %s, not %s (a VM keeps its address in azsim): %w",
			spec.Name, m.Spec.PublicIP, spec.PublicIP, core.ErrConflict)
	}
	b.refreshSpec(m, spec)
	return b.startLocked(ctx, m, spec)
}

// Deallocate stops the machine keeping its disk; Observe then reports it
// deallocated.
func (b *Backend) Deallocate(ctx context.Context, resourceID string) error {
	return b.stop(ctx, resourceID, true)
}

// PowerOff stops the machine keeping its disk; Observe then reports it
// stopped (ARM keeps the compute allocated and billing).
func (b *Backend) PowerOff(ctx context.Context, resourceID string) error {
	return b.stop(ctx, resourceID, false)
}

// Delete removes the machine, its disk (the inner docker volume), its
// sockets and its loopback address. Deleting an unknown VM does nothing.
func (b *Backend) Delete(ctx context.Context, resourceID string) error {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(resourceID)]
	b.mu.Unlock()
	if !ok {
		// No state: still remove any container labelled with this VM.
		return b.removeByFilter(ctx, "label="+LabelResourceID+"="+resourceID, "label="+LabelDataDir+"="+b.dataDir)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := b.destroy(ctx, m); err != nil {
		return fmt.Errorf("delete vm %q: %w", m.Spec.Name, err)
	}
	b.mu.Lock()
	delete(b.machines, strings.ToLower(resourceID))
	b.mu.Unlock()
	return nil
}

// Observe reports the machine's power state as seen from outside:
// running, deallocated (after Deallocate) or stopped (after PowerOff, or
// when the guest shut itself down). ok is false for an unknown VM or a
// machine whose container is gone.
func (b *Backend) Observe(ctx context.Context, resourceID string) (vm.PowerState, bool, error) {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(resourceID)]
	b.mu.Unlock()
	if !ok {
		return "", false, nil
	}
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil {
		return "", false, fmt.Errorf("observe vm %q: %w", m.Spec.Name, err)
	}
	b.mu.Lock()
	deallocated := m.Deallocated
	b.mu.Unlock()
	switch {
	case status == "":
		return "", false, nil
	case status == "created":
		return vm.PowerStarting, true, nil
	case isRunning(status):
		return vm.PowerRunning, true, nil
	case deallocated:
		return vm.PowerDeallocated, true, nil
	default:
		return vm.PowerStopped, true, nil
	}
}

// Close stops serving the VMs' IMDS and ARM sockets. With reset it removes
// every machine of this data dir (containers, volumes, addresses, state);
// without, it stops the running machines and restarts them when a backend
// opens the same data dir again.
func (b *Backend) Close(ctx context.Context, reset bool) error {
	b.mu.Lock()
	ms := make([]*machine, 0, len(b.machines))
	for _, m := range b.machines {
		ms = append(ms, m)
	}
	if reset {
		b.machines = map[string]*machine{}
	}
	b.mu.Unlock()

	var errs []error
	var wg sync.WaitGroup
	var errMu sync.Mutex
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.mu.Lock()
			defer m.mu.Unlock()
			var err error
			if reset {
				err = b.destroy(ctx, m)
			} else {
				err = b.suspend(ctx, m)
			}
			if err != nil {
				errMu.Lock()
				errs = append(errs, fmt.Errorf("vm %q: %w", m.Spec.Name, err))
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if reset {
		if err := b.removeByFilter(ctx, "label="+LabelDataDir+"="+b.dataDir); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(b.root); err != nil {
			errs = append(errs, fmt.Errorf("remove %q: %w", b.root, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close docker vm backend: %w", err)
	}
	return nil
}

// lockMachine returns the VM's machine (a new one for an unknown VM), locked.
func (b *Backend) lockMachine(spec vm.Spec) *machine {
	id := strings.ToLower(spec.ResourceID)
	b.mu.Lock()
	m, ok := b.machines[id]
	if !ok {
		key := machineKey(b.dataDir, spec.ResourceID)
		m = &machine{
			Spec:      specWithoutData(spec),
			Key:       key,
			Container: containerName(spec.Name, key),
			Volume:    "azsim-" + key + "-docker",
			HostDir:   b.hostDirFor(key),
		}
		b.machines[id] = m
	}
	b.mu.Unlock()
	m.mu.Lock()
	return m
}

// refreshSpec keeps the latest identity and keys for IMDS; the address and
// the hostname are fixed when the machine is made.
func (b *Backend) refreshSpec(m *machine, spec vm.Spec) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ip, host := m.Spec.PublicIP, m.Spec.ComputerName
	m.Spec = specWithoutData(spec)
	if ip != "" {
		m.Spec.PublicIP = ip
	}
	if host != "" {
		m.Spec.ComputerName = host
	}
}

// setPower records how the backend last left the machine. Fields read by
// Observe and IMDS change under b.mu, so those never wait for a boot.
func (b *Backend) setPower(m *machine, deallocated, resume bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m.Deallocated, m.ResumeOnOpen = deallocated, resume
}

// boot makes a machine from nothing: files, address, sockets, volume,
// container; then waits for sshd. A failure removes what it made.
func (b *Backend) boot(ctx context.Context, m *machine, spec vm.Spec) (err error) {
	b.mu.Lock()
	m.Spec = specWithoutData(spec)
	b.mu.Unlock()
	b.setPower(m, false, false)
	if err := checkPublicIP(spec.PublicIP); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	defer func() {
		if err == nil || b.opts.KeepFailed {
			return
		}
		_ = b.destroy(context.WithoutCancel(ctx), m)
		b.mu.Lock()
		delete(b.machines, strings.ToLower(spec.ResourceID))
		b.mu.Unlock()
	}()
	if err := b.writeGuestFiles(m, spec); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	added, err := ensureLoopbackAddress(ctx, spec.PublicIP)
	if err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	m.AddedAddress = added
	if err := b.serve(m); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, err)
	}
	if err := b.saveState(m); err != nil {
		return err
	}
	if _, err := b.docker.run(ctx, "volume", "create",
		"--label", LabelAzsim+"=1", "--label", LabelDataDir+"="+b.dataDir,
		"--label", LabelResourceID+"="+spec.ResourceID, "--label", labelKey+"="+m.Key, m.Volume); err != nil {
		return fmt.Errorf("create vm %q: disk: %w", spec.Name, err)
	}
	if _, err := b.docker.run(ctx, b.runArgs(m)...); err != nil {
		return fmt.Errorf("create vm %q: %w", spec.Name, classifyRunError(err, spec.PublicIP))
	}
	return b.waitSSH(ctx, m)
}

// startLocked starts an existing container and waits for sshd.
func (b *Backend) startLocked(ctx context.Context, m *machine, spec vm.Spec) error {
	added, err := ensureLoopbackAddress(ctx, m.Spec.PublicIP)
	if err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	m.AddedAddress = m.AddedAddress || added
	if err := b.writeARMEnv(m); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	if err := b.serve(m); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, err)
	}
	b.setPower(m, false, false)
	if err := b.saveState(m); err != nil {
		return err
	}
	if _, err := b.docker.run(ctx, "start", m.Container); err != nil {
		return fmt.Errorf("start vm %q: %w", spec.Name, classifyRunError(err, m.Spec.PublicIP))
	}
	return b.waitSSH(ctx, m)
}

// stop stops a machine's container (a clean guest shutdown).
func (b *Backend) stop(ctx context.Context, resourceID string, deallocate bool) error {
	b.mu.Lock()
	m, ok := b.machines[strings.ToLower(resourceID)]
	b.mu.Unlock()
	if !ok {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := b.docker.run(ctx, "stop", "-t", strconv.Itoa(int(b.opts.StopTimeout.Seconds())), m.Container); err != nil && !isNoSuchObject(err) {
		return fmt.Errorf("stop vm %q: %w", m.Spec.Name, err)
	}
	b.setPower(m, deallocate, false)
	return b.saveState(m)
}

// suspend stops a running machine when azsim closes, to resume it later.
func (b *Backend) suspend(ctx context.Context, m *machine) error {
	if m.endpoints != nil {
		m.endpoints.close()
		m.endpoints = nil
	}
	status, err := b.containerStatus(ctx, m.Container)
	if err != nil || !isRunning(status) {
		return err
	}
	if _, err := b.docker.run(ctx, "stop", "-t", strconv.Itoa(int(b.opts.StopTimeout.Seconds())), m.Container); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	b.setPower(m, m.Deallocated, true)
	return b.saveState(m)
}

// destroy removes everything a machine has; missing pieces are fine.
func (b *Backend) destroy(ctx context.Context, m *machine) error {
	if m.endpoints != nil {
		m.endpoints.close()
		m.endpoints = nil
	}
	var errs []error
	if _, err := b.docker.run(ctx, "rm", "-f", "-v", m.Container); err != nil && !isNoSuchObject(err) {
		errs = append(errs, fmt.Errorf("remove container: %w", err))
	}
	if _, err := b.docker.run(ctx, "volume", "rm", "-f", m.Volume); err != nil && !isNoSuchObject(err) {
		errs = append(errs, fmt.Errorf("remove disk: %w", err))
	}
	if m.AddedAddress && !b.addressInUse(m) {
		if err := removeLoopbackAddress(ctx, m.Spec.PublicIP); err != nil {
			errs = append(errs, err)
		}
		m.AddedAddress = false
	}
	if err := os.RemoveAll(b.machineDir(m.Key)); err != nil {
		errs = append(errs, fmt.Errorf("remove state: %w", err))
	}
	if m.HostDir != filepath.Join(b.machineDir(m.Key), "host") {
		_ = os.RemoveAll(m.HostDir)
	}
	return errors.Join(errs...)
}

// addressInUse reports whether another machine of this backend has m's address.
func (b *Backend) addressInUse(m *machine) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.machines {
		if o != m && o.Spec.PublicIP == m.Spec.PublicIP {
			return true
		}
	}
	return false
}

// removeByFilter force-removes the containers and volumes matching every filter.
func (b *Backend) removeByFilter(ctx context.Context, filters ...string) error {
	args := []string{"ps", "-aq"}
	vargs := []string{"volume", "ls", "-q"}
	for _, f := range filters {
		args = append(args, "--filter", f)
		vargs = append(vargs, "--filter", f)
	}
	var errs []error
	if out, err := b.docker.run(ctx, args...); err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	} else if ids := strings.Fields(out); len(ids) > 0 {
		if _, err := b.docker.run(ctx, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove containers: %w", err))
		}
	}
	if out, err := b.docker.run(ctx, vargs...); err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	} else if vols := strings.Fields(out); len(vols) > 0 {
		if _, err := b.docker.run(ctx, append([]string{"volume", "rm", "-f"}, vols...)...); err != nil {
			errs = append(errs, fmt.Errorf("remove volumes: %w", err))
		}
	}
	return errors.Join(errs...)
}

// pruneOrphans removes machines whose azsim data dir no longer exists
// (an azsim that was killed and whose data dir was deleted).
func (b *Backend) pruneOrphans(ctx context.Context) {
	out, err := b.docker.run(ctx, "ps", "-a", "--filter", "label="+LabelAzsim, "--format", `{{.ID}} {{.Label "`+LabelDataDir+`"}}`)
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		id, dir, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || dir == "" {
			continue
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			_ = b.removeByFilter(ctx, "id="+id)
			_ = b.removeByFilter(ctx, "label="+LabelDataDir+"="+dir)
		}
	}
}

// adoptMachines loads the machines a previous backend left in the data dir.
func (b *Backend) adoptMachines(ctx context.Context) error {
	entries, err := os.ReadDir(b.root)
	if err != nil {
		return fmt.Errorf("docker vm backend: read %q: %w", b.root, err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(b.root, e.Name(), "state.json"))
		if err != nil {
			continue
		}
		m := &machine{}
		if err := json.Unmarshal(data, m); err != nil || m.Spec.ResourceID == "" {
			continue
		}
		status, err := b.containerStatus(ctx, m.Container)
		if err != nil {
			return fmt.Errorf("docker vm backend: %w", err)
		}
		if status == "" {
			// The machine is gone; forget it.
			_ = os.RemoveAll(filepath.Join(b.root, e.Name()))
			continue
		}
		b.machines[strings.ToLower(m.Spec.ResourceID)] = m
		if err := b.writeARMEnv(m); err != nil {
			return fmt.Errorf("docker vm backend: %w", err)
		}
		if err := b.serve(m); err != nil {
			return fmt.Errorf("docker vm backend: %w", err)
		}
		switch {
		case m.ResumeOnOpen && !isRunning(status):
			if added, err := ensureLoopbackAddress(ctx, m.Spec.PublicIP); err == nil {
				m.AddedAddress = m.AddedAddress || added
			}
			if _, err := b.docker.run(ctx, "start", m.Container); err != nil {
				return fmt.Errorf("docker vm backend: resume vm %q: %w", m.Spec.Name, err)
			}
		case isRunning(status) && b.arm != nil:
			// The ARM port may have changed since this VM booted.
			_, _ = b.docker.run(ctx, "exec", m.Container, "systemctl", "restart", "azsim-arm.service")
		}
		m.ResumeOnOpen = false
		if err := b.saveState(m); err != nil {
			return err
		}
	}
	return nil
}

// serve starts the machine's IMDS and ARM sockets unless they run already.
func (b *Backend) serve(m *machine) error {
	if m.endpoints != nil {
		return nil
	}
	h := &imdsHandler{
		spec: func() vm.Spec {
			b.mu.Lock()
			defer b.mu.Unlock()
			return m.Spec
		},
		issue: b.opts.IssueMIToken,
		now:   time.Now,
	}
	e, err := serveGuestEndpoints(m.HostDir, h, b.dialARM)
	if err != nil {
		return err
	}
	m.endpoints = e
	return nil
}

// dialARM connects to azsim's ARM listener: its unix socket when given,
// else the TCP address of the ARM URL.
func (b *Backend) dialARM(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	if b.opts.ARMSocket != "" {
		return d.DialContext(ctx, "unix", b.opts.ARMSocket)
	}
	if b.arm == nil {
		return nil, errors.New("no ARM URL configured")
	}
	u, err := url.Parse(b.opts.ARMURL)
	if err != nil {
		return nil, fmt.Errorf("parse arm url: %w", err)
	}
	return d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), b.arm.Port))
}

// writeGuestFiles writes the NoCloud seed, the per-VM cloud config and the
// ARM forwarder's settings. Files are rewritten in place, as the container
// mounts them.
func (b *Backend) writeGuestFiles(m *machine, spec vm.Spec) error {
	files, err := renderGuestFiles(spec, vmIDFor(spec.ResourceID))
	if err != nil {
		return err
	}
	dir := b.machineDir(m.Key)
	for _, d := range []string{filepath.Join(dir, "seed"), m.HostDir} {
		if err := os.MkdirAll(d, 0o755); err != nil { //nolint:gosec // read by the VM
			return fmt.Errorf("create %q: %w", d, err)
		}
	}
	for path, data := range map[string][]byte{
		filepath.Join(dir, "seed", "user-data"): files.UserData,
		filepath.Join(dir, "seed", "meta-data"): files.MetaData,
		filepath.Join(dir, "cloud.cfg"):         files.CloudCfg,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %q: %w", path, err)
		}
	}
	return b.writeARMEnv(m)
}

// writeARMEnv tells the in-guest forwarder where ARM must answer; without
// an ARM URL the file is absent and the forwarder does not run.
func (b *Backend) writeARMEnv(m *machine) error {
	path := filepath.Join(m.HostDir, armEnvName)
	if b.arm == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", path, err)
		}
		return nil
	}
	if err := os.MkdirAll(m.HostDir, 0o755); err != nil { //nolint:gosec // read by the VM
		return fmt.Errorf("create %q: %w", m.HostDir, err)
	}
	if err := os.WriteFile(path, armEnv(*b.arm), 0o644); err != nil { //nolint:gosec // read by the VM
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}

// runArgs is the `docker run` of a machine: a systemd container with the
// Docker-in-Docker rights, its ports on the VM's address, its disk for the
// inner dockerd, and the seed, sockets, CA and agent image mounted in.
func (b *Backend) runArgs(m *machine) []string {
	dir := b.machineDir(m.Key)
	host := m.Spec.ComputerName
	if host == "" {
		host = m.Spec.Name
	}
	args := []string{
		"run", "-d", "--name", m.Container, "--hostname", hostnameLabel(host),
		"--label", LabelAzsim + "=1",
		"--label", LabelDataDir + "=" + b.dataDir,
		"--label", LabelResourceID + "=" + m.Spec.ResourceID,
		"--label", labelKey + "=" + m.Key,
		"--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--device-cgroup-rule=a *:* rwm",
		"--tmpfs", "/run", "--tmpfs", "/run/lock",
		"--stop-signal", "SIGRTMIN+3",
	}
	for _, p := range m.publishPorts(b.opts.PublishPorts) {
		args = append(args, "-p", fmt.Sprintf("%s:%d:%d", m.Spec.PublicIP, p, p))
	}
	args = append(args,
		"-v", m.Volume+":"+guestDockerDir,
		"-v", filepath.Join(dir, "seed")+":"+guestSeedDir+":ro",
		"-v", filepath.Join(dir, "cloud.cfg")+":"+guestCloudCfg+":ro",
		"-v", m.HostDir+":"+guestHostDir,
	)
	if b.opts.CAFile != "" {
		args = append(args, "-v", absPath(b.opts.CAFile)+":"+guestCAFile+":ro")
	}
	if b.opts.Images.AgentTar != "" {
		args = append(args, "-v", absPath(b.opts.Images.AgentTar)+":"+guestAgentTar+":ro")
	}
	return append(args, b.opts.Images.VM)
}

func (m *machine) publishPorts(ports []int) []int {
	seen := map[int]bool{}
	out := []int{}
	for _, p := range ports {
		if p > 0 && p < 65536 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// waitSSH waits until sshd answers with its banner on the VM's address,
// failing early when the container stops.
func (b *Backend) waitSSH(ctx context.Context, m *machine) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.BootTimeout)
	defer cancel()
	addr := net.JoinHostPort(m.Spec.PublicIP, "22")
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		if sshBanner(ctx, addr) {
			return nil
		}
		status, err := b.containerStatus(ctx, m.Container)
		switch {
		case ctx.Err() != nil:
			return core.WithHint(fmt.Errorf("boot vm %q: sshd on %s did not answer within %s: %w", m.Spec.Name, addr, b.opts.BootTimeout, core.ErrTimeout),
				"look at the machine with: docker logs %s; docker exec %s systemctl --failed", m.Container, m.Container)
		case err != nil:
			return fmt.Errorf("boot vm %q: %w", m.Spec.Name, err)
		case status != "" && !isRunning(status) && status != "created":
			logs, _ := b.docker.run(context.WithoutCancel(ctx), "logs", "--tail", "30", m.Container)
			return fmt.Errorf("boot vm %q: the machine stopped during boot (container %s %s): %s", m.Spec.Name, m.Container, status, logs)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// sshBanner reports whether an SSH server greets on addr. docker's port
// proxy accepts connections before the guest's sshd runs, so a connect is
// not enough: the banner is.
func sshBanner(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer func() { _ = c.Close() }()
	deadline, _ := ctx.Deadline()
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 4)
	n, _ := c.Read(buf)
	return n == 4 && string(buf) == "SSH-"
}

// containerStatus is the container's state ("running", "exited", …) or ""
// when it does not exist.
func (b *Backend) containerStatus(ctx context.Context, name string) (string, error) {
	out, err := b.docker.run(ctx, "container", "inspect", "--format", "{{.State.Status}}", name)
	if isNoSuchObject(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return out, nil
}

func isRunning(status string) bool {
	return status == "running" || status == "restarting" || status == "paused"
}

func (b *Backend) saveState(m *machine) error {
	dir := b.machineDir(m.Key)
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // read by the VM (seed)
		return fmt.Errorf("create %q: %w", dir, err)
	}
	b.mu.Lock()
	data, err := json.MarshalIndent(m, "", "  ")
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode state of vm %q: %w", m.Spec.Name, err)
	}
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state of vm %q: %w", m.Spec.Name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		return fmt.Errorf("write state of vm %q: %w", m.Spec.Name, err)
	}
	return nil
}

func (b *Backend) machineDir(key string) string { return filepath.Join(b.root, key) }

// keepAgentTar gives the data dir its own link (or copy) of the agent image
// tarball: machines mount it, and a stopped machine must still start after
// scripts/images.sh replaced the tarball in its cache.
func keepAgentTar(root, src string) (string, error) {
	dir := filepath.Join(root, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // mounted read-only into the VMs
		return "", fmt.Errorf("create %q: %w", dir, err)
	}
	// The script names tarballs by content hash: an existing one is the same.
	dst := filepath.Join(dir, filepath.Base(src))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			return "", fmt.Errorf("keep agent image %q: %w", src, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("keep agent image %q: %w", src, err)
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src) //nolint:gosec // the tarball the images script built
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644) //nolint:gosec // read by the VMs
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// maxSocketPath keeps socket paths under the kernel's 108-byte limit.
const maxSocketPath = 100

// hostDirFor is the machine's socket dir: inside the data dir when the
// socket paths fit, else a short dir under the system temp dir.
func (b *Backend) hostDirFor(key string) string {
	dir := filepath.Join(b.machineDir(key), "host")
	if len(filepath.Join(dir, imdsSocketName)) <= maxSocketPath {
		return dir
	}
	return filepath.Join(os.TempDir(), "azsim-"+key)
}

// machineKey names a VM's machine: unique per data dir and resource id
// (resource ids are case-insensitive).
func machineKey(dataDir, resourceID string) string {
	sum := sha256.Sum256([]byte(dataDir + "\x00" + strings.ToLower(resourceID)))
	return hex.EncodeToString(sum[:])[:12]
}

var unsafeNameRE = regexp.MustCompile(`[^a-z0-9_.-]+`)

// containerName is "azsim-<vm name>-<key>", readable in `docker ps`.
func containerName(vmName, key string) string {
	n := strings.Trim(unsafeNameRE.ReplaceAllString(strings.ToLower(vmName), "-"), "-._")
	if len(n) > 40 {
		n = n[:40]
	}
	if n == "" {
		return "azsim-" + key
	}
	return "azsim-" + n + "-" + key
}

// hostnameLabel makes a computer name a valid hostname (one DNS label).
func hostnameLabel(name string) string {
	n := strings.Trim(regexp.MustCompile(`[^A-Za-z0-9-]+`).ReplaceAllString(name, "-"), "-")
	if len(n) > 63 {
		n = n[:63]
	}
	if n == "" {
		return "azsim-vm"
	}
	return n
}

func specWithoutData(spec vm.Spec) vm.Spec {
	spec.CustomData = nil
	return spec
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// checkPublicIP accepts only loopback IPv4 addresses: a simulated VM never
// gets an address that leaves this machine.
func checkPublicIP(ip string) error {
	p := net.ParseIP(ip)
	if p == nil || p.To4() == nil || !p.IsLoopback() {
		return fmt.Errorf("public ip %q: want an IPv4 loopback address (127.77.x.y): %w", ip, core.ErrInvalidInput)
	}
	return nil
}

// classifyRunError explains the common `docker run/start` failure of an
// address whose ports are taken (another azsim, or a host sshd on 0.0.0.0:22).
func classifyRunError(err error, ip string) error {
	s := err.Error()
	if strings.Contains(s, "address already in use") || strings.Contains(s, "port is already allocated") {
		return core.WithHint(fmt.Errorf("%w: %w", err, core.ErrConflict),
			"another process listens on %s:22 or :2222 (a host sshd on 0.0.0.0, or another azsim using the same address)", ip)
	}
	return err
}

// ensureLoopbackAddress puts ip/32 on lo when it is not there, and reports
// whether it added it. Every 127/8 address is local on Linux anyway, so a
// refusal (no CAP_NET_ADMIN) is not an error.
func ensureLoopbackAddress(ctx context.Context, ip string) (bool, error) {
	if err := checkPublicIP(ip); err != nil {
		return false, err
	}
	out, err := runCommand(ctx, "ip", "-o", "-4", "addr", "show", "dev", "lo")
	if err != nil {
		return false, nil //nolint:nilerr // without iproute2 the /8 route still makes the address local
	}
	if strings.Contains(out, " "+ip+"/") {
		return false, nil
	}
	if _, err := runCommand(ctx, "ip", "addr", "add", ip+"/32", "dev", "lo"); err != nil {
		return false, nil //nolint:nilerr // not permitted: the /8 route still makes the address local
	}
	return true, nil
}

// removeLoopbackAddress takes ip/32 off lo; an absent address is fine.
func removeLoopbackAddress(ctx context.Context, ip string) error {
	if _, err := runCommand(ctx, "ip", "addr", "del", ip+"/32", "dev", "lo"); err != nil &&
		!strings.Contains(err.Error(), "Cannot assign") && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("remove address %s from lo: %w", ip, err)
	}
	return nil
}
