// Package docker is azsim's "docker" VM backend: every simulated VM is a
// real machine, a Docker container running systemd, sshd, its own dockerd
// and the real cloud-init against a NoCloud seed, published on its own
// loopback address. Inside each VM, 169.254.169.254 answers as IMDS and the
// ARM URL mngr was configured with reaches azsim, both through unix sockets
// this backend serves.
package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
	// APTProxy is the host's Debian package cache (apt-cacher-ng) as
	// 127.0.0.1:PORT. When set, every VM's apt reaches it as an http proxy
	// on its own 127.0.0.1:PORT (a forwarder to a socket azsim serves), so
	// packages come from this machine's cache; "" lets the VMs' apt go to
	// the Debian archive directly.
	APTProxy string
	// NPMRegistry, when set, answers npm's registry requests of every VM
	// on its http://127.0.0.1:4873/ (GuestNPMRegistryPort; a forwarder to
	// a socket this backend serves with it): azsim passes an npmcache.Cache.
	// nil: nothing listens there.
	NPMRegistry http.Handler
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
//
// Two kinds of lock guard it, and this is the rule for them:
//
//   - Backend.mu (the table lock) guards the machines map and, in every
//     machine, the fields that Observe and the in-guest IMDS read: Spec,
//     Deallocated and ResumeOnOpen. It is held only for in-memory work
//     (a map look-up, a field copy, encoding the state for saveState),
//     never across a docker or ip command, a socket or a file write, so
//     Observe and IMDS never wait for a boot.
//   - machine.mu (the machine lock) serializes the life cycle of one VM:
//     every docker command on its container and volume, its files and
//     sockets (endpoints), its loopback address (AddedAddress) and its
//     state.json. It is held for a whole operation, boots included.
//
// Order: a machine lock first, then the table lock. Code that holds the
// table lock never waits for a machine lock (lockMachine releases the
// table lock before it locks the machine), and no goroutine holds two
// machine locks at once. Spec, Deallocated and ResumeOnOpen change only
// under both locks (refreshSpec, setPower, boot), so either lock is enough
// to read them. Key, Container, Volume and HostDir are fixed when the
// machine is made and need no lock. New and adoptMachines run before the
// backend is shared and take neither.
type Backend struct {
	opts    Options
	dataDir string
	root    string
	docker  dockerCLI
	arm     *armListen
	// aptProxy is Options.APTProxy, checked; "" for none.
	aptProxy string

	// mu is the table lock: see the rule above.
	mu       sync.Mutex
	machines map[string]*machine // by lower-case resource id
}

// machine is one VM's persisted state (DataDir/vm-docker/KEY/state.json).
// Backend's comment says which lock guards which field.
type machine struct {
	// Spec is the VM as last created or started, without its custom data.
	// Written under mu and Backend.mu.
	Spec vm.Spec `json:"spec"`
	// Key, Container, Volume and HostDir never change after lockMachine.
	Key       string `json:"key"`
	Container string `json:"container"`
	Volume    string `json:"volume"`
	HostDir   string `json:"hostDir"`
	// AddedAddress says this backend put PublicIP on lo; guarded by mu.
	AddedAddress bool `json:"addedAddress"`
	// Deallocated and ResumeOnOpen are written under mu and Backend.mu.
	Deallocated  bool `json:"deallocated"`
	ResumeOnOpen bool `json:"resumeOnOpen"`

	// mu is the machine lock: see Backend.
	mu sync.Mutex
	// endpoints serve the VM's IMDS and ARM sockets; guarded by mu.
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
	if opts.APTProxy != "" {
		addr, err := parseAPTProxy(opts.APTProxy)
		if err != nil {
			return nil, fmt.Errorf("docker vm backend: %w", err)
		}
		b.aptProxy = addr
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
		if err := b.removeImages(ctx); err != nil {
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
