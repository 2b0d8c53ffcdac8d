package vps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm/docker"
	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// dockerVMClient is a VpsClient whose "VMs" are systemd containers of the
// image MNGR_TEST_VM_IMAGE (azsim's VM image, Debian's Azure package set:
// sshd, cloud-init reading a NoCloud seed; mngr's cloud-init installs
// Docker through this machine's apt cache). The test reaches them on their bridge address.
type dockerVMClient struct {
	t        *testing.T
	image    string
	agentTar string
	dir      string
	names    map[core.HostID]string
	hostName map[core.HostID]string
	// lastIP is each VM's address when it last ran. A stopped container has
	// none, but a cloud VM keeps reporting its (static) public IP while
	// deallocated, and the provider relies on that to forget the old
	// address's pinned keys when a start brings a new one (docker may hand
	// the restarted container another address when others started since).
	lastIP map[core.HostID]string
	// aptHostDir is mounted as the VM's /var/lib/azsim/host: the image's
	// apt-cache forwarder finds its port and socket there, as in azsim.
	aptHostDir string
}

// serveAPTProxy gives the test's VMs this machine's apt cache the way
// azsim's docker backend does: a unix socket (dir/apt-proxy.sock) piped to
// the cache, and dir/apt-proxy.env naming the port the VM's forwarder
// listens on. It stops when the test ends.
func serveAPTProxy(t *testing.T) string {
	t.Helper()
	addr, err := docker.LocalAPTProxy(context.Background(), os.Getenv)
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(addr)
	if err := os.WriteFile(filepath.Join(dir, "apt-proxy.env"), []byte("APT_PROXY_PORT="+port+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "apt-proxy.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { _ = c.Close() }()
				up, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					return
				}
				defer func() { _ = up.Close() }()
				done := make(chan struct{})
				go func() { _, _ = io.Copy(up, c); _ = up.(*net.TCPConn).CloseWrite(); close(done) }()
				_, _ = io.Copy(c, up)
				<-done
			}()
		}
	}()
	return dir
}

func dockerCmd(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func (c *dockerVMClient) ParseBuildArgs(args []string) (ProviderArgs, []string, error) {
	return ProviderArgs{}, args, nil
}

func (c *dockerVMClient) Preflight(context.Context) error { return nil }

func (c *dockerVMClient) CreateInstance(ctx context.Context, req CreateInstanceRequest) (Instance, error) {
	seed := filepath.Join(c.dir, req.HostID.Hex(), "seed")
	if err := os.MkdirAll(seed, 0o755); err != nil {
		return Instance{}, err
	}
	meta, _ := json.Marshal(map[string]any{"instance-id": req.HostID.Hex(), "local-hostname": req.HostName,
		"public-keys": []string{req.AdminPublicKey}})
	for name, data := range map[string][]byte{"user-data": req.UserData, "meta-data": meta} {
		if err := os.WriteFile(filepath.Join(seed, name), data, 0o644); err != nil {
			return Instance{}, err
		}
	}
	name := "mngr-vps-test-" + req.HostID.Hex()[:12]
	args := []string{"run", "-d", "--name", name, "--hostname", req.HostName,
		"--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--device-cgroup-rule=a *:* rwm",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3",
		"-v", "/var/lib/docker", "-v", seed + ":/var/lib/cloud/seed/nocloud:ro"}
	if c.aptHostDir != "" {
		args = append(args, "-v", c.aptHostDir+":/var/lib/azsim/host")
	}
	if c.agentTar != "" {
		args = append(args, "-v", c.agentTar+":"+VMImageTar+":ro")
	}
	args = append(args, c.image)
	if _, err := dockerCmd(ctx, args...); err != nil {
		return Instance{}, err
	}
	c.names[req.HostID] = name
	c.hostName[req.HostID] = req.HostName
	return c.GetInstance(ctx, req.HostID)
}

func (c *dockerVMClient) GetInstance(ctx context.Context, id core.HostID) (Instance, error) {
	name, ok := c.names[id]
	if !ok {
		return Instance{}, fmt.Errorf("vm %s: %w", id, core.ErrNotFound)
	}
	out, err := dockerCmd(ctx, "inspect", "--format", "{{.State.Running}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
	if err != nil {
		return Instance{}, fmt.Errorf("vm %s: %w", id, core.ErrNotFound)
	}
	f := strings.Fields(out)
	inst := Instance{ID: name, HostID: id, HostName: c.hostName[id], Status: StatusStopped, PublicIP: c.lastIP[id]}
	if len(f) == 2 && f[0] == "true" {
		inst.Status, inst.PublicIP = StatusActive, f[1]
		c.lastIP[id] = f[1]
	}
	return inst, nil
}

func (c *dockerVMClient) ListInstances(ctx context.Context) ([]Instance, error) {
	var out []Instance
	for id := range c.names {
		inst, err := c.GetInstance(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, inst)
	}
	return out, nil
}

func (c *dockerVMClient) StopInstance(ctx context.Context, id core.HostID) error {
	_, err := dockerCmd(ctx, "stop", "-t", "30", c.names[id])
	return err
}

func (c *dockerVMClient) StartInstance(ctx context.Context, id core.HostID) (Instance, error) {
	if _, err := dockerCmd(ctx, "start", c.names[id]); err != nil {
		return Instance{}, err
	}
	return c.GetInstance(ctx, id)
}

func (c *dockerVMClient) DestroyInstance(ctx context.Context, id core.HostID) error {
	name, ok := c.names[id]
	if !ok {
		return nil
	}
	_, err := dockerCmd(ctx, "rm", "-f", "-v", name)
	delete(c.names, id)
	return err
}

// selfStoppingVMClient is a dockerVMClient whose self-stop script leaves a
// mark on the VM instead of deallocating it.
type selfStoppingVMClient struct{ *dockerVMClient }

const selfStopMark = "/var/lib/mngr/self-stop-ran"

func (selfStoppingVMClient) SelfStopScript() string {
	return "#!/bin/sh\necho ran > " + selfStopMark + "\n"
}

type recordingProgress struct{ steps []string }

func (r *recordingProgress) Step(name string) func(error) {
	r.steps = append(r.steps, name)
	return func(error) {}
}
func (r *recordingProgress) Warn(msg string) { r.steps = append(r.steps, "warn: "+msg) }

// newDockerVMClient is the VM client of the docker-VM tests: VMs of
// MNGR_TEST_VM_IMAGE (Debian's Azure image: cloud-init installs Docker)
// whose apt reaches this machine's package cache, as azsim's VMs do, and
// which the test's end destroys. It needs docker and the image.
func newDockerVMClient(ctx context.Context, t *testing.T) *dockerVMClient {
	t.Helper()
	image := os.Getenv("MNGR_TEST_VM_IMAGE")
	if image == "" {
		testenv.Missing(t, "MNGR_TEST_VM_IMAGE is not set (azsim's VM image, built by scripts/setup.sh)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Missing(t, "docker not installed")
	}
	if _, err := dockerCmd(ctx, "image", "inspect", image); err != nil {
		testenv.Missing(t, "image %s unavailable: %v", image, err)
	}
	client := &dockerVMClient{t: t, image: image, agentTar: os.Getenv("MNGR_TEST_AGENT_TAR"), dir: t.TempDir(),
		names: map[core.HostID]string{}, hostName: map[core.HostID]string{}, lastIP: map[core.HostID]string{},
		aptHostDir: serveAPTProxy(t)}
	t.Cleanup(func() {
		for id := range client.names {
			_ = client.DestroyInstance(context.Background(), id)
		}
	})
	return client
}

// TestHostLifecycleOnDockerVM runs create, exec, stop, start and destroy
// against a real VM container. It needs docker and MNGR_TEST_VM_IMAGE (and
// uses MNGR_TEST_AGENT_TAR as the baked agent image tarball when set).
func TestHostLifecycleOnDockerVM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client := newDockerVMClient(ctx, t)
	p, err := NewProvider(client, Config{ProviderName: "dockervm", LocalHostDir: t.TempDir(),
		SSHConnectTimeout: 90 * time.Second, CloudInitTimeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	prog := &recordingProgress{}
	ctx = core.WithProgress(ctx, prog)

	h, err := p.CreateHost(ctx, core.CreateHostRequest{Name: "itest", Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatalf("CreateHost: %v (steps %q)", err, prog.steps)
	}
	res, err := h.Exec.Run(ctx, "cat /mngr/data.json && echo persisted > /mngr/marker && hostname", core.RunOptions{})
	if err != nil || !res.OK() || !strings.Contains(res.Stdout, string(h.ID)) {
		t.Fatalf("exec on new host = %+v, %v", res, err)
	}
	// The agent layer runs over the SSH executor as on any host.
	rec, err := core.CreateAgent(ctx, h, "mngr-", core.AgentSpec{Name: "a1", Type: "command", Command: "sleep 600"})
	if err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	if err := core.StartAgent(ctx, h, "mngr-", rec); err != nil {
		t.Fatalf("StartAgent: %v", err)
	}
	agents, err := core.ListAgents(ctx, h, "mngr-")
	if err != nil || len(agents) != 1 || (agents[0].State != core.AgentRunning && agents[0].State != core.AgentWaiting) {
		t.Fatalf("ListAgents = %+v, %v", agents, err)
	}
	if err := p.StopHost(ctx, h.ID); err != nil {
		t.Fatalf("StopHost: %v", err)
	}
	if _, err := p.ConnectHost(ctx, h.ID); err == nil {
		t.Fatal("ConnectHost succeeded on a stopped host")
	}
	h2, err := p.StartHost(ctx, h.ID)
	if err != nil {
		t.Fatalf("StartHost: %v (steps %q)", err, prog.steps)
	}
	res, err = h2.Exec.Run(ctx, "cat /mngr/marker", core.RunOptions{})
	if err != nil || strings.TrimSpace(res.Stdout) != "persisted" {
		t.Fatalf("marker after restart = %+v, %v", res, err)
	}
	if err := p.DestroyHost(ctx, h.ID); err != nil {
		t.Fatalf("DestroyHost: %v", err)
	}
	keys, _ := p.Keys()
	if b, _ := os.ReadFile(keys.ContainerKnownHosts); strings.TrimSpace(string(b)) != "" {
		t.Errorf("container known_hosts not cleaned: %q", b)
	}

	t.Run("build from context and idle self-stop", func(t *testing.T) {
		sp, err := NewProvider(selfStoppingVMClient{client}, Config{ProviderName: "dockervm", LocalHostDir: t.TempDir(),
			SSHConnectTimeout: 90 * time.Second, CloudInitTimeout: 4 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		bctx := t.TempDir()
		files := map[string]string{
			"Dockerfile.mngr": "FROM " + BakedImage + "\nCOPY hello.txt /hello.txt\n",
			"hello.txt":       "built from context\n",
			"node_modules/x":  "excluded\n",
		}
		for name, data := range files {
			f := filepath.Join(bctx, name)
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		h, err := sp.CreateHost(ctx, core.CreateHostRequest{Name: "ibuild", IdleTimeoutSeconds: 3,
			BuildArgs: []string{"-f", "Dockerfile.mngr", bctx}})
		if err != nil {
			t.Fatalf("CreateHost with build: %v (steps %q)", err, prog.steps)
		}
		defer func() { _ = sp.DestroyHost(context.Background(), h.ID) }()
		res, err := h.Exec.Run(ctx, "cat /hello.txt", core.RunOptions{})
		if err != nil || strings.TrimSpace(res.Stdout) != "built from context" {
			t.Fatalf("built image content = %+v, %v", res, err)
		}
		name := client.names[h.ID]
		var last string
		for i := 0; i < 60; i++ {
			out, err := dockerCmd(ctx, "exec", name, "cat", selfStopMark)
			if err == nil && out == "ran" {
				return
			}
			last = fmt.Sprint(out, err)
			if err := core.Sleep(ctx, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		log, _ := dockerCmd(ctx, "exec", name, "sh", "-c", "journalctl -u mngr-idle-watcher.service --no-pager | tail -20; ls -la "+VMHostDataDir(h.ID)+"/host_dir/commands "+VMHostDataDir(h.ID)+"/host_dir/logs; cat "+VMHostDataDir(h.ID)+"/host_dir/logs/idle_watcher.log")
		t.Fatalf("self-stop script did not run within 60s of idleness (last %s)\n%s", last, log)
	})
}

// pemSecret returns a line of a PEM private key file that holds secret key
// bytes: text that appears wherever the key was copied. (The first line is
// the same in every OpenSSH Ed25519 key: the format's header.)
func pemSecret(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 5 {
		t.Fatalf("%s is not an OpenSSH Ed25519 private key", path)
	}
	return lines[3]
}

// TestHostKeysOnDockerVMs creates two hosts on real VM containers and
// checks they have different host keys, pinned; that host a's agent
// container holds its own container host key and nothing of host b's keys
// (nor of its own VM's); that cloud-init's plain copies of the user data
// are gone from the VM; and that destroy removes each host's key dir and
// known_hosts lines. It needs docker and MNGR_TEST_VM_IMAGE.
func TestHostKeysOnDockerVMs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client := newDockerVMClient(ctx, t)
	p, err := NewProvider(client, Config{ProviderName: "dockervm", LocalHostDir: t.TempDir(),
		SSHConnectTimeout: 90 * time.Second, CloudInitTimeout: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	keys, err := p.Keys()
	if err != nil {
		t.Fatal(err)
	}

	hosts := make([]*core.Host, 2)
	hks := make([]*HostKeys, 2)
	for i, name := range []string{"keys-a", "keys-b"} {
		h, err := p.CreateHost(ctx, core.CreateHostRequest{Name: name})
		if err != nil {
			t.Fatalf("CreateHost %s: %v", name, err)
		}
		hk, err := LoadHostKeys(keys.Dir, h.ID)
		if err != nil || hk.Shared() {
			t.Fatalf("host keys of %s = %+v, %v; want its own", name, hk, err)
		}
		hosts[i], hks[i] = h, hk
	}
	a, b := hks[0], hks[1]
	if a.VMHostKeyPub == b.VMHostKeyPub || a.ContainerHostKeyPub == b.ContainerHostKeyPub {
		t.Fatalf("the two hosts share a host key")
	}

	// Grep host a's container, whole file system, for key material: its
	// own container key must be found (the grep works), nothing else.
	own := pemSecret(t, a.ContainerHostKey)
	foreign := map[string]string{
		"b's container public key":  strings.Fields(b.ContainerHostKeyPub)[1],
		"b's VM public key":         strings.Fields(b.VMHostKeyPub)[1],
		"b's container private key": pemSecret(t, b.ContainerHostKey),
		"b's VM private key":        pemSecret(t, b.VMHostKey),
		"a's VM private key":        pemSecret(t, a.VMHostKey),
	}
	grep := func(needle string) string {
		t.Helper()
		res, err := hosts[0].Exec.Run(ctx, "grep -rlsF -e "+core.ShellQuote(needle)+
			" --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev / || true", core.RunOptions{})
		if err != nil || !res.OK() {
			t.Fatalf("grep in host a's container: %+v, %v", res, err)
		}
		return strings.TrimSpace(res.Stdout)
	}
	if got := grep(own); !strings.Contains(got, "/etc/ssh/ssh_host_ed25519_key") {
		t.Fatalf("host a's own container key not found by grep (found in %q)", got)
	}
	for what, needle := range foreign {
		if got := grep(needle); got != "" {
			t.Errorf("host a's container holds %s in %s", what, got)
		}
	}

	// cloud-init's plain copies of the user data go once cloud-final is done.
	vmName := client.names[hosts[0].ID]
	var left string
	for range 60 {
		left, _ = dockerCmd(ctx, "exec", vmName, "sh", "-c",
			"ls /var/lib/cloud/instances/*/user-data.txt /var/lib/cloud/instances/*/user-data.txt.i /var/lib/cloud/instances/*/cloud-config.txt 2>/dev/null || true")
		if left == "" {
			break
		}
		if err := core.Sleep(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if left != "" {
		t.Errorf("cloud-init's user data copies remain on the VM: %s", left)
	}
	sshdKey, err := dockerCmd(ctx, "exec", vmName, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil || strings.Fields(sshdKey)[1] != strings.Fields(a.VMHostKeyPub)[1] {
		t.Errorf("VM a's sshd key = %q, %v; want host a's own", sshdKey, err)
	}

	for i, h := range hosts {
		if err := p.DestroyHost(ctx, h.ID); err != nil {
			t.Fatalf("DestroyHost: %v", err)
		}
		if _, err := os.Stat(hks[i].Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("destroy left key dir %s: %v", hks[i].Dir, err)
		}
	}
	for _, f := range []string{keys.VMKnownHosts, keys.ContainerKnownHosts} {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != "" {
			t.Errorf("%s not cleaned: %q", filepath.Base(f), b)
		}
	}
}
