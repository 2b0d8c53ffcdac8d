package vps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
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
	for _, pub := range []string{k1.VMKeyPub, k1.ContainerKeyPub, k1.VMHostKeyPub, k1.ContainerHostKeyPub} {
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
	want := []string{"container_host_key", "container_host_key.pub", "container_ssh_key", "container_ssh_key.pub",
		"vm_host_key", "vm_host_key.pub", "vm_ssh_key", "vm_ssh_key.pub"}
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
	pem, err := readFile(keys.ContainerHostKey)
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
		"sshd setup":   p.containerSSHScript(keys, pem),
		"cloud-init":   cloudInitProbe,
		"idle watcher": IdleWatcherScript,
	} {
		if out, err := exec.CommandContext(context.Background(), "sh", "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s script is not valid sh: %v %s", name, err, out)
		}
	}
}
