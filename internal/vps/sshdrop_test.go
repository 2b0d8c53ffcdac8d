package vps_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
	"github.com/mngr-azure/mngr/internal/vps"
	"github.com/mngr-azure/mngr/internal/vps/vpstest"
)

// The commands a create runs over SSH, in order, as fakeVM names them: on
// the VM's sshd (port 22), then on the agent container's.
var (
	setupVMCommands = []string{"check cloud-init", "prepare host data dir", "look for the baked agent image",
		"get image", "docker run", "set up ssh in container", "start sshd in container", "write host_state.json"}
	setupContainerCommands = []string{"write data.json", "write idle_policy", "record boot activity"}
)

// setupStepOf is what the create's error must say when a command fails:
// the progress step and, inside it, the command.
var setupStepOf = map[string]string{
	"check cloud-init":               "waiting for cloud-init",
	"prepare host data dir":          "prepare host data dir",
	"look for the baked agent image": "getting the agent image: look for the baked agent image",
	"get image":                      `getting the agent image: get image "debian:bookworm-slim" on the VM`,
	"docker run":                     "starting the agent container: docker run",
	"set up ssh in container":        "setting up ssh in the container: set up ssh in container mngr-h1",
	"start sshd in container":        "setting up ssh in the container: start sshd in container mngr-h1",
	"write host_state.json":          "writing host records: write /var/lib/mngr/hosts/",
	"write data.json":                "writing host records: write /mngr/data.json",
	"write idle_policy":              "writing host records: write /mngr/idle_policy",
}

// fakeVM is a simulated VM for host setup: an sshtest server on IP:22 (the
// VM's sshd) and one on IP:port (the agent container's sshd). Both serve
// commands with a small model of the VM (cloud-init done, docker, files)
// instead of a shell, so a whole create runs in-process and touches nothing
// on this machine.
type fakeVM struct {
	ip      string
	vm, ctr *sshtest.Server

	mu sync.Mutex
	// containers maps a container name to the host that owns it.
	containers map[string]string
	// dockerRuns counts containers created; a second one for the same
	// host would be a duplicate.
	dockerRuns int
	// vmCmds and ctrCmds name the commands served, in order (those dropped
	// before running are not served).
	vmCmds, ctrCmds []string
	// ctrSetups are the container ssh setup scripts received, in order.
	ctrSetups []string
}

// rePrivateKey finds an OpenSSH private key in a script.
var rePrivateKey = regexp.MustCompile(`-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]*-----END OPENSSH PRIVATE KEY-----\n`)

// boot makes the fake VM's sshd present the host key that req's user data
// carries, as cloud-init's ssh_keys does on a real VM.
func (f *fakeVM) boot(req vps.CreateInstanceRequest) error {
	var cc struct {
		SSHKeys map[string]string `yaml:"ssh_keys"`
	}
	if err := yaml.Unmarshal(req.UserData, &cc); err != nil {
		return fmt.Errorf("fake vm: parse user data: %w", err)
	}
	if err := f.vm.SetHostKey([]byte(cc.SSHKeys["ed25519_private"])); err != nil {
		return fmt.Errorf("fake vm: host key from user data: %w", err)
	}
	return nil
}

var (
	reWriteFile = regexp.MustCompile(`cat > '?([^' ]+)\.mngr-tmp`)
	reRunName   = regexp.MustCompile(`--name (\S+)`)
	reRunOwner  = regexp.MustCompile(regexp.QuoteMeta(vps.LabelHostID) + `=(host-[0-9a-f]+)`)
)

// unquoteScript undoes mngr's `sh -c ` + core.ShellQuote(script).
func unquoteScript(command string) string {
	s := strings.TrimPrefix(command, "sh -c ")
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = strings.ReplaceAll(s[1:len(s)-1], `'\''`, `'`)
	}
	return s
}

// commandName names a setup script as setupVMCommands does, "" when unknown.
func commandName(script string) string {
	switch {
	case strings.Contains(script, vps.ReadyMarker) && strings.Contains(script, "echo READY"):
		return "check cloud-init"
	case strings.Contains(script, ".mngr-tmp"):
		if m := reWriteFile.FindStringSubmatch(script); m != nil {
			return "write " + filepath.Base(m[1])
		}
	case strings.HasPrefix(script, "mkdir -p ") && strings.Contains(script, vps.VMDataRoot):
		return "prepare host data dir"
	case strings.Contains(script, "then echo yes; else echo no"):
		return "look for the baked agent image"
	case strings.Contains(script, "docker image inspect") && strings.Contains(script, "docker pull"):
		return "get image"
	case strings.Contains(script, "docker container inspect") && strings.Contains(script, "docker run"):
		return "docker run"
	case strings.Contains(script, "until docker info") && strings.Contains(script, "docker start"):
		return "docker start"
	case strings.Contains(script, "docker exec -i") && strings.HasSuffix(script, " sh -s"):
		return "set up ssh in container"
	case strings.Contains(script, "docker exec -d") && strings.Contains(script, "/usr/sbin/sshd"):
		return "start sshd in container"
	case strings.Contains(script, "/activity") && strings.Contains(script, "date +%s"):
		return "record boot activity"
	case script == "echo ok" || strings.HasPrefix(script, "echo ok;"):
		// The reach probe (it also reads the idle-stop refusal record).
		return "echo ok"
	}
	return ""
}

func (f *fakeVM) serveVM(_ context.Context, e sshtest.Exec) int {
	script := unquoteScript(e.Command)
	name := commandName(script)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vmCmds = append(f.vmCmds, name)
	switch name {
	case "check cloud-init":
		_, _ = io.WriteString(e.Stdout, "READY\n")
	case "prepare host data dir", "get image", "start sshd in container":
	case "look for the baked agent image":
		_, _ = io.WriteString(e.Stdout, "no\n")
	case "docker run":
		return f.dockerRun(script, e)
	case "set up ssh in container":
		// The container's sshd presents the host key the script installs.
		in, err := io.ReadAll(e.Stdin)
		if err != nil {
			return 1
		}
		f.ctrSetups = append(f.ctrSetups, string(in))
		if err := f.ctr.SetHostKey(rePrivateKey.Find(in)); err != nil {
			_, _ = fmt.Fprintf(e.Stderr, "fake vm: container host key: %v\n", err)
			return 1
		}
	case "write host_state.json":
		if _, err := io.ReadAll(e.Stdin); err != nil {
			return 1
		}
	case "docker start":
	default:
		_, _ = fmt.Fprintf(e.Stderr, "fake vm: unexpected command %q\n", script)
		return 127
	}
	return 0
}

// dockerRun models the container start script: this host's container is
// kept, another host's is an error, none is created.
func (f *fakeVM) dockerRun(script string, e sshtest.Exec) int {
	name, owner := reRunName.FindStringSubmatch(script), reRunOwner.FindStringSubmatch(script)
	if name == nil || owner == nil {
		_, _ = fmt.Fprintf(e.Stderr, "fake vm: docker run without --name or host label: %q\n", script)
		return 127
	}
	if cur, ok := f.containers[name[1]]; ok {
		if cur != owner[1] {
			_, _ = fmt.Fprintf(e.Stderr, "container %s belongs to host %s\n", name[1], cur)
			return 1
		}
		return 0
	}
	f.containers[name[1]] = owner[1]
	f.dockerRuns++
	_, _ = io.WriteString(e.Stdout, "0123abcd\n")
	return 0
}

func (f *fakeVM) serveContainer(_ context.Context, e sshtest.Exec) int {
	script := unquoteScript(e.Command)
	name := commandName(script)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctrCmds = append(f.ctrCmds, name)
	switch name {
	case "write data.json", "write idle_policy":
		if _, err := io.ReadAll(e.Stdin); err != nil {
			return 1
		}
	case "record boot activity":
	case "echo ok":
		_, _ = io.WriteString(e.Stdout, "ok\n")
	default:
		_, _ = fmt.Fprintf(e.Stderr, "fake container: unexpected command %q\n", script)
		return 127
	}
	return 0
}

// newFakeVM starts a fake VM on a free loopback address 127.79.x.y. Port 22
// needs root (or a lowered net.ipv4.ip_unprivileged_port_start); without it
// the test is skipped.
//
// Until a create boots it (boot) and sets up its container, both sshds
// present throwaway host keys no one has pinned. ctrPort is the container
// sshd's port (0: any free one).
func newFakeVM(t *testing.T, keys *vps.Keys, ctrPort int) *fakeVM {
	t.Helper()
	vmPEM, _, err := sshx.GenerateEd25519("unbooted vm")
	if err != nil {
		t.Fatal(err)
	}
	ctrPEM, _, err := sshx.GenerateEd25519("unset container")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVM{containers: map[string]string{}}
	var last error
	for range 8 {
		ip := fmt.Sprintf("127.79.%d.%d", 1+rand.IntN(250), 1+rand.IntN(250))
		ctr, err := sshtest.Start(sshtest.Config{Addr: net.JoinHostPort(ip, strconv.Itoa(ctrPort)), HostKeyPEM: ctrPEM,
			AuthorizedKey: keys.ContainerKeyPub, Handler: f.serveContainer})
		if err != nil {
			last = err
			continue
		}
		vm, err := sshtest.Start(sshtest.Config{Addr: net.JoinHostPort(ip, "22"), HostKeyPEM: vmPEM,
			AuthorizedKey: keys.VMKeyPub, Handler: f.serveVM})
		if errors.Is(err, syscall.EACCES) {
			ctr.Close()
			t.Skipf("cannot listen on port 22 of a loopback address: %v", err)
		}
		if err != nil {
			ctr.Close()
			last = err
			continue
		}
		f.ip, f.vm, f.ctr = ip, vm, ctr
		t.Cleanup(func() { vm.Close(); ctr.Close() })
		return f
	}
	t.Fatalf("no free loopback address for a fake VM: %v", last)
	return nil
}

// dropRig is one create against one fake VM.
type dropRig struct {
	t     *testing.T
	fv    *fakeVM
	cloud *vpstest.Client
	p     *vps.Provider
}

// dropConfig is the provider configuration of the drop tests: short waits,
// so a test that exhausts one stays within seconds.
type dropConfig struct {
	sshConnect, cloudInit time.Duration
	keepFailed            bool
	// realPauses keeps the shipped pauses between tries (1 s after a
	// dropped command, 2 s after a failed cloud-init check) instead of
	// 10 ms.
	realPauses bool
}

func newDropRig(t *testing.T, keyDir string, c dropConfig) *dropRig {
	t.Helper()
	keys, err := vps.EnsureKeys(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	fv := newFakeVM(t, keys, 0)
	cloud := vpstest.NewClient()
	cloud.NextIP = fv.ip
	cloud.BeforeCreate = fv.boot
	if c.sshConnect == 0 {
		c.sshConnect = 3 * time.Second
	}
	if c.cloudInit == 0 {
		c.cloudInit = 5 * time.Second
	}
	p, err := vps.NewProvider(cloud, vps.Config{ProviderName: "drop", KeyDir: keyDir, ContainerSSHPort: fv.ctr.Port(),
		SSHConnectTimeout: c.sshConnect, CloudInitTimeout: c.cloudInit, KeepFailedHosts: c.keepFailed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if !c.realPauses {
		vps.SetSSHRetryPauses(p, 10*time.Millisecond, 10*time.Millisecond)
	}
	return &dropRig{t: t, fv: fv, cloud: cloud, p: p}
}

// createResult is what one create did.
type createResult struct {
	err  error
	took time.Duration
	// vmConns, vmExecs, ctrConns and ctrExecs are the TCP connections and
	// exec requests (dropped ones included) each sshd received.
	vmConns, vmExecs, ctrConns, ctrExecs int
}

func (r createResult) String() string {
	return fmt.Sprintf("vm %d conns/%d execs, container %d conns/%d execs, %v",
		r.vmConns, r.vmExecs, r.ctrConns, r.ctrExecs, r.took.Round(10*time.Millisecond))
}

func (r *dropRig) create() createResult {
	r.t.Helper()
	// A safety net only: every wait inside is bounded far below this.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	h, err := r.p.CreateHost(ctx, core.CreateHostRequest{Name: "h1"})
	res := createResult{err: err, took: time.Since(start),
		vmConns: r.fv.vm.Stats().Conns, vmExecs: r.fv.vm.ExecRequests(),
		ctrConns: r.fv.ctr.Stats().Conns, ctrExecs: r.fv.ctr.ExecRequests()}
	if err == nil && (h == nil || h.Exec == nil || h.State != core.HostRunning) {
		r.t.Fatalf("create returned host %+v without an error", h)
	}
	return res
}

// checkCreated checks a create that succeeded left exactly one VM and one
// container.
func (r *dropRig) checkCreated(res createResult) {
	r.t.Helper()
	if res.err != nil {
		r.t.Fatalf("create failed: %v (hint %q; %s)", res.err, core.HintOf(res.err), res)
	}
	r.checkCloud(1, 0)
	r.fv.mu.Lock()
	defer r.fv.mu.Unlock()
	if r.fv.dockerRuns != 1 || len(r.fv.containers) != 1 {
		r.t.Errorf("%d containers created (%v), want exactly 1", r.fv.dockerRuns, r.fv.containers)
	}
}

// checkFailed checks a create that failed named step, said what to do, and
// left no VM behind (or kept it, with keep), and no duplicate container.
func (r *dropRig) checkFailed(res createResult, step string, keep bool) {
	r.t.Helper()
	if res.err == nil {
		r.t.Fatalf("create succeeded (%s); want it to fail in %q", res, step)
	}
	msg, hint := res.err.Error(), core.HintOf(res.err)
	if !strings.Contains(msg, `set up host "h1": `+step) {
		r.t.Errorf("error %q does not name the step %q", msg, step)
	}
	wantHint := "run the create again"
	if keep {
		wantHint = "MNGR_KEEP_FAILED_HOSTS=1"
	}
	if !strings.Contains(hint, wantHint) {
		r.t.Errorf("hint %q does not say %q (error %q)", hint, wantHint, msg)
	}
	if keep {
		r.checkCloud(1, 0)
	} else {
		r.checkCloud(0, 1)
	}
	r.fv.mu.Lock()
	defer r.fv.mu.Unlock()
	if r.fv.dockerRuns > 1 {
		r.t.Errorf("%d containers created for one host", r.fv.dockerRuns)
	}
}

// checkCloud checks the cloud holds vms instances after exactly one
// CreateInstance and destroys DestroyInstance calls.
func (r *dropRig) checkCloud(vms, destroys int) {
	r.t.Helper()
	insts, err := r.cloud.ListInstances(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	if len(insts) != vms || r.cloud.Calls("CreateInstance") != 1 || r.cloud.Calls("DestroyInstance") != destroys {
		r.t.Errorf("cloud holds %d VMs after %d CreateInstance and %d DestroyInstance calls; want %d, 1, %d",
			len(insts), r.cloud.Calls("CreateInstance"), r.cloud.Calls("DestroyInstance"), vms, destroys)
	}
}

// TestCreateSurvivesFlappingSSHD drops SSH connections and sessions at the
// start of setup, as a VM that just booted (or restarts its sshd) does: each
// create succeeds with exactly one VM and one container, and the test pins
// how many connections it took.
func TestCreateSurvivesFlappingSSHD(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	tests := []struct {
		name    string
		arrange func(vm, ctr *sshtest.Server)
		// wantVMConns and wantCtrConns are the exact connections each sshd
		// gets: banner probes (WaitForSSH) plus SSH logins.
		wantVMConns, wantCtrConns int
	}{
		{"no drops", func(_, _ *sshtest.Server) {}, 2, 2},
		// Probes 1-3 find no banner, probe 4 does, then one login serves
		// every command.
		{"vm sshd drops the first 3 connections", func(vm, _ *sshtest.Server) { vm.DropConns(1, 2, 3) }, 5, 2},
		// The banner answers, the login's handshake is cut: cloud-init's
		// check logs in again.
		{"vm handshake dropped", func(vm, _ *sshtest.Server) { vm.DropConns(2) }, 3, 2},
		{"first 2 vm sessions dropped", func(vm, _ *sshtest.Server) { vm.DropExec(sshtest.BeforeRun, 1, 2) }, 4, 2},
		{"container sshd drops the first 2 connections", func(_, ctr *sshtest.Server) { ctr.DropConns(1, 2) }, 2, 4},
		// Probes 1-2 dropped, probe 3 answers, login 4 cut, login 5 runs
		// check 1 (dropped), login 6 check 2 (dropped), login 7 the rest.
		{"all of the above", func(vm, ctr *sshtest.Server) {
			vm.DropConns(1, 2, 4)
			vm.DropExec(sshtest.BeforeRun, 1, 2)
			ctr.DropConns(1, 2)
		}, 7, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newDropRig(t, keyDir, dropConfig{})
			tt.arrange(r.fv.vm, r.fv.ctr)
			res := r.create()
			r.checkCreated(res)
			if res.vmConns != tt.wantVMConns || res.ctrConns != tt.wantCtrConns {
				t.Errorf("%s; want %d vm and %d container connections", res, tt.wantVMConns, tt.wantCtrConns)
			}
			t.Logf("%s", res)
		})
	}
}

// TestCreateWithSessionDroppedAtEachStep drops the SSH connection at each
// command a create runs (the N-th exec request, for every N), before the
// command runs or after it ran but before its exit status. One drop is
// retried and the create succeeds; three in a row (every try of one
// command) fail the create with an error naming the step and a hint, and
// the failed VM is deleted (or kept, with MNGR_KEEP_FAILED_HOSTS=1). No
// case makes a second VM or a second container.
func TestCreateWithSessionDroppedAtEachStep(t *testing.T) {
	keyDir := filepath.Join(t.TempDir(), "keys")
	r := newDropRig(t, keyDir, dropConfig{})
	r.checkCreated(r.create())
	if d := cmp.Diff(setupVMCommands, r.fv.vmCmds); d != "" {
		t.Fatalf("vm commands of a create (-want +got)\n%s", d)
	}
	if d := cmp.Diff(setupContainerCommands, r.fv.ctrCmds); d != "" {
		t.Fatalf("container commands of a create (-want +got)\n%s", d)
	}
	tries := vps.SSHTries(r.p)
	type dropCase struct {
		onVM  bool
		n     int
		at    sshtest.DropPoint
		burst int
		keep  bool
	}
	var cases []dropCase
	for _, at := range []sshtest.DropPoint{sshtest.BeforeRun, sshtest.AfterRun} {
		for _, burst := range []int{1, tries} {
			for n := range setupVMCommands {
				cases = append(cases, dropCase{onVM: true, n: n + 1, at: at, burst: burst})
			}
			for n := range setupContainerCommands {
				cases = append(cases, dropCase{n: n + 1, at: at, burst: burst})
			}
		}
	}
	cases = append(cases, dropCase{onVM: true, n: 5, at: sshtest.AfterRun, burst: tries, keep: true})
	worst := map[string]createResult{}
	for _, c := range cases {
		cmds, where := setupContainerCommands, "container"
		if c.onVM {
			cmds, where = setupVMCommands, "vm"
		}
		cmd := cmds[c.n-1]
		name := fmt.Sprintf("%s %d (%s) %s x%d", where, c.n, cmd, map[sshtest.DropPoint]string{sshtest.BeforeRun: "before", sshtest.AfterRun: "after"}[c.at], c.burst)
		if c.keep {
			name += " kept"
		}
		t.Run(name, func(t *testing.T) {
			r := newDropRig(t, keyDir, dropConfig{keepFailed: c.keep})
			srv := r.fv.ctr
			if c.onVM {
				srv = r.fv.vm
			}
			var ns []int
			for i := range c.burst {
				ns = append(ns, c.n+i)
			}
			srv.DropExec(c.at, ns...)
			res := r.create()
			// The cloud-init wait checks until its deadline; the boot
			// activity stamp is only warned about; every other command
			// has `tries` tries.
			if c.burst < tries || cmd == "check cloud-init" || cmd == "record boot activity" {
				r.checkCreated(res)
			} else {
				r.checkFailed(res, setupStepOf[cmd], c.keep)
				if !strings.Contains(res.err.Error(), fmt.Sprintf("dropped on all %d tries", tries)) {
					t.Errorf("error %q does not say the connection dropped on every try", res.err)
				}
			}
			if w := worst[cmd]; res.vmConns+res.ctrConns > w.vmConns+w.ctrConns {
				worst[cmd] = res
			}
			t.Logf("%s: %v", res, res.err)
		})
	}
	for _, cmd := range append(append([]string{}, setupVMCommands...), setupContainerCommands...) {
		t.Logf("most SSH connections with drops at %q: %s", cmd, worst[cmd])
	}
}

// TestCreateGivesUpOnSSHThatAlwaysDrops runs creates against sshds that
// drop everything, with the shipped pauses between tries: each fails within
// its wait's bound plus a second, after a bounded number of connections,
// with an error naming the step and a hint, and deletes the VM.
func TestCreateGivesUpOnSSHThatAlwaysDrops(t *testing.T) {
	const (
		sshConnect = 2 * time.Second
		cloudInit  = 3 * time.Second
	)
	tests := []struct {
		name    string
		arrange func(vm, ctr *sshtest.Server)
		step    string
		// bound is the longest the create may take; maxVMConns and
		// maxCtrConns bound the connections each sshd may get.
		bound                   time.Duration
		maxVMConns, maxCtrConns int
	}{
		// WaitForSSH pauses 0.1, 0.2, 0.3, 0.4 s, then 0.5 s: probes at
		// 0, 0.1, 0.3, 0.6, 1.0, 1.5 and 2.0 s, so at most 7 within 2 s.
		{"vm sshd resets every connection", func(vm, _ *sshtest.Server) { vm.SetMode(sshtest.ModeReset) },
			"waiting for the VM's sshd: SSH server not ready after 2s", sshConnect + time.Second, 7, 0},
		// One banner probe, then a check (one login each) every 2 s
		// until the 3 s deadline: 3 checks.
		{"every vm session drops", func(vm, _ *sshtest.Server) { vm.SetMode(sshtest.ModeDropExecs) },
			"waiting for cloud-init: cloud-init state unknown after 3s: 3 checks over SSH failed", cloudInit + time.Second, 4, 0},
		// Cloud-init is done; then every session drops: the first command
		// gets its 3 tries, 1 s apart.
		{"every vm session after cloud-init drops", func(vm, _ *sshtest.Server) {
			var ns []int
			for n := 2; n <= 50; n++ {
				ns = append(ns, n)
			}
			vm.DropExec(sshtest.BeforeRun, ns...)
		}, "prepare host data dir", 3 * time.Second, 5, 0},
		{"container sshd resets every connection", func(_, ctr *sshtest.Server) { ctr.SetMode(sshtest.ModeReset) },
			"setting up ssh in the container: SSH server not ready after 2s", sshConnect + time.Second, 2, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Its own keys: parallel creates must not share known_hosts files.
			r := newDropRig(t, filepath.Join(t.TempDir(), "keys"), dropConfig{sshConnect: sshConnect, cloudInit: cloudInit, realPauses: true})
			tt.arrange(r.fv.vm, r.fv.ctr)
			res := r.create()
			r.checkFailed(res, tt.step, false)
			if res.took > tt.bound {
				t.Errorf("create gave up after %v, want within %v", res.took, tt.bound)
			}
			if res.vmConns > tt.maxVMConns || res.ctrConns > tt.maxCtrConns {
				t.Errorf("%s; want at most %d vm and %d container connections", res, tt.maxVMConns, tt.maxCtrConns)
			}
			t.Logf("%s: %v", res, res.err)
		})
	}
}
