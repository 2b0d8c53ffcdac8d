package vps

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

func TestEnsureKeysCreatesOnceAndReuses(t *testing.T) {
	dir := KeyDir(t.TempDir(), "azure", "azure-west")
	k1, err := EnsureKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := EnsureKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(k1, k2); d != "" {
		t.Errorf("second EnsureKeys differs (-first +second)\n%s", d)
	}
	pubs := map[string]bool{}
	for _, pub := range []string{k1.VMKeyPub, k1.ContainerKeyPub} {
		if !strings.HasPrefix(pub, "ssh-ed25519 ") || pubs[pub] {
			t.Errorf("public key %q is not a fresh ed25519 key", pub)
		}
		pubs[pub] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	// Client keys only: host keys are made per host (no shared host key).
	want := []string{"container_ssh_key", "container_ssh_key.pub", "vm_ssh_key", "vm_ssh_key.pub"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("key dir (-want +got)\n%s", d)
	}
	if filepath.Base(filepath.Dir(dir)) != "azure-west" || k1.VMKnownHosts != filepath.Join(dir, "vm_known_hosts") {
		t.Errorf("layout: %+v", k1)
	}
}

func TestContainerScriptsAreValidShell(t *testing.T) {
	p, err := NewProvider(newFakeClient(""), Config{ProviderName: "x", LocalHostDir: t.TempDir(), StartArgs: []string{"--memory", "2g"}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := p.Keys()
	if err != nil {
		t.Fatal(err)
	}
	hk, err := CreateHostKeys(keys.Dir, core.HostID("host-0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := readFile(hk.ContainerHostKey)
	if err != nil {
		t.Fatal(err)
	}
	inst := Instance{HostID: core.HostID("host-0123456789abcdef0123456789abcdef"), HostName: "my-host"}
	args := p.containerRunArgs(inst, "img:1", core.CreateHostRequest{Tags: map[string]string{"a": "it's"}, StartArgs: []string{"--cpus", "1"}})
	joined := strings.Join(args, " ")
	for _, want := range []string{"--name mngr-my-host", "--restart unless-stopped", "-p 0.0.0.0:2222:22",
		"-v /var/lib/mngr/hosts/0123456789abcdef0123456789abcdef:/mngr-vol", "--label mngr.host-id=host-0123456789abcdef0123456789abcdef",
		`--label mngr.tags={"a":"it's"}`, "--memory 2g --cpus 1 --entrypoint sh img:1 -c"} {
		if !strings.Contains(joined, want) {
			t.Errorf("docker run lacks %q:\n%s", want, joined)
		}
	}
	for name, script := range map[string]string{
		"docker run":   core.ShellJoin(args),
		"sshd setup":   p.containerSSHScript(keys, hk, pem),
		"cloud-init":   cloudInitProbe,
		"idle watcher": IdleWatcherScript,
	} {
		if out, err := exec.CommandContext(context.Background(), "sh", "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s script is not valid sh: %v %s", name, err, out)
		}
	}
}

// TestHostKeysArePerHost checks each host gets host keys of its own, found
// again by id, while a host made before per-host keys falls back to the
// provider instance's shared files, and an id that is not a host id never
// reaches the file system.
func TestHostKeysArePerHost(t *testing.T) {
	dir := KeyDir(t.TempDir(), "azure", "azure")
	a, b := core.NewHostID(), core.NewHostID()
	ka, err := CreateHostKeys(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := CreateHostKeys(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	pubs := map[string]bool{}
	for _, pub := range []string{ka.VMHostKeyPub, ka.ContainerHostKeyPub, kb.VMHostKeyPub, kb.ContainerHostKeyPub} {
		if !strings.HasPrefix(pub, "ssh-ed25519 ") || pubs[pub] {
			t.Errorf("host public key %q is not a fresh ed25519 key", pub)
		}
		pubs[pub] = true
	}
	if ka.Dir != filepath.Join(dir, "hosts", string(a)) || ka.VMHostKey != filepath.Join(ka.Dir, "vm_host_key") || ka.Shared() {
		t.Errorf("layout of host a: %+v", ka)
	}
	again, err := LoadHostKeys(dir, a)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ka, again); d != "" {
		t.Errorf("LoadHostKeys (-created +loaded)\n%s", d)
	}
	if recreated, err := CreateHostKeys(dir, a); err != nil || recreated.VMHostKeyPub != ka.VMHostKeyPub {
		t.Errorf("CreateHostKeys again = %+v, %v; want the existing keys", recreated, err)
	}

	// A host without a directory of its own: the shared files, when any.
	old := core.NewHostID()
	if _, err := LoadHostKeys(dir, old); !errors.Is(err, core.ErrNotFound) || core.HintOf(err) == "" {
		t.Errorf("no shared keys: err = %v (hint %q), want ErrNotFound with a hint", err, core.HintOf(err))
	}
	vmPub, err := sshx.EnsureKey(filepath.Join(dir, "vm_host_key"), "old")
	if err != nil {
		t.Fatal(err)
	}
	ctrPub, err := sshx.EnsureKey(filepath.Join(dir, "container_host_key"), "old")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := LoadHostKeys(dir, old)
	if err != nil {
		t.Fatal(err)
	}
	want := &HostKeys{VMHostKey: filepath.Join(dir, "vm_host_key"), ContainerHostKey: filepath.Join(dir, "container_host_key"),
		VMHostKeyPub: vmPub, ContainerHostKeyPub: ctrPub}
	if d := cmp.Diff(want, shared); d != "" || !shared.Shared() {
		t.Errorf("shared keys (-want +got)\n%s", d)
	}

	for _, bad := range []core.HostID{"", "host-../../x", "../keys", "host-0123"} {
		if _, err := CreateHostKeys(dir, bad); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("CreateHostKeys(%q) = %v, want ErrInvalidInput", bad, err)
		}
		if _, err := LoadHostKeys(dir, bad); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("LoadHostKeys(%q) = %v, want ErrInvalidInput", bad, err)
		}
	}
}

// TestRemoveHostKeysUnpinsByKey pins host a's keys at two addresses (an old
// one and its current one) next to host b's and a shared-key host's pins,
// and checks that removing a's keys drops exactly a's lines and its
// directory.
func TestRemoveHostKeysUnpinsByKey(t *testing.T) {
	k, err := EnsureKeys(KeyDir(t.TempDir(), "azure", "azure"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := core.NewHostID(), core.NewHostID()
	ka, err := CreateHostKeys(k.Dir, a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := CreateHostKeys(k.Dir, b)
	if err != nil {
		t.Fatal(err)
	}
	_, sharedPub, err := sshx.GenerateEd25519("shared")
	if err != nil {
		t.Fatal(err)
	}
	pins := []struct {
		file, ip string
		port     int
		pub      string
	}{
		{k.VMKnownHosts, "127.0.0.5", 22, ka.VMHostKeyPub},
		{k.VMKnownHosts, "127.0.0.6", 22, ka.VMHostKeyPub},
		{k.VMKnownHosts, "127.0.0.7", 22, kb.VMHostKeyPub},
		{k.VMKnownHosts, "127.0.0.8", 22, sharedPub},
		{k.ContainerKnownHosts, "127.0.0.6", 2222, ka.ContainerHostKeyPub},
		{k.ContainerKnownHosts, "127.0.0.7", 2222, kb.ContainerHostKeyPub},
	}
	for _, p := range pins {
		if err := sshx.PinHostKey(p.file, p.ip, p.port, p.pub); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := RemoveHostKeys(k, a)
	if err != nil || !removed {
		t.Fatalf("RemoveHostKeys = %v, %v", removed, err)
	}
	if _, err := os.Stat(ka.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("host a's key dir remains: %v", err)
	}
	line := func(ip string, port int, pub string) string {
		f := strings.Fields(pub)
		return sshx.HostPattern(ip, port) + " " + f[0] + " " + f[1]
	}
	for file, want := range map[string]string{
		k.VMKnownHosts:        line("127.0.0.7", 22, kb.VMHostKeyPub) + "\n" + line("127.0.0.8", 22, sharedPub) + "\n",
		k.ContainerKnownHosts: line("127.0.0.7", 2222, kb.ContainerHostKeyPub) + "\n",
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, string(b)); d != "" {
			t.Errorf("%s (-want +got)\n%s", filepath.Base(file), d)
		}
	}
	if removed, err := RemoveHostKeys(k, a); err != nil || removed {
		t.Errorf("second RemoveHostKeys = %v, %v; want nothing to do", removed, err)
	}
}
