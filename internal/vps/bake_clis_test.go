package vps

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// dockerOut runs docker and returns its trimmed output.
func dockerOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestBakeAgentCLIsScript runs bake_agent_clis.sh against this machine's
// Docker with a copy of the agent image and a stand-in installer: the
// installer sees the env file, the committed image holds what it installed
// with the image's own command and the CLI label, and neither the env
// file's values nor the work dir nor the container remain. A failing
// installer exits 8 and leaves the image as it was.
func TestBakeAgentCLIsScript(t *testing.T) {
	testenv.NeedTools(t, "docker")
	if _, err := dockerOut(t, "image", "inspect", BakedImage); err != nil {
		testenv.Missing(t, "the agent image %s is not in this machine's Docker (scripts/setup.sh builds it)", BakedImage)
	}
	image := "mngr-bake-clis-test:" + strings.ToLower(strings.TrimPrefix(string(core.NewHostID()), "host-"))[:12]
	if out, err := dockerOut(t, "tag", BakedImage, image); err != nil {
		t.Fatalf("docker tag: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	cmdBefore, _ := dockerOut(t, "image", "inspect", "-f", "{{json .Config.Cmd}}", image)
	work := filepath.Join(t.TempDir(), "bake")

	install := `. /mngr-bake/env
printf '#!/bin/sh\necho "fake 1.2.3"\n' >/usr/local/bin/fake && chmod +x /usr/local/bin/fake
echo "$npm_config_registry" >/registry-seen
echo installer-log >/mngr-bake/install-fake.log
`
	run := func(install string) (string, error) {
		script := core.ScriptCall(bakeAgentCLIsSh, image, work, "npm_config_registry='http://127.0.0.1:4873/'\n", install, AgentCLILabel+"=fake@1.2.3")
		out, err := exec.CommandContext(t.Context(), "sh", "-c", script).CombinedOutput()
		return string(out), err
	}
	if out, err := run(install); err != nil {
		t.Fatalf("bake_agent_clis.sh: %v: %s", err, out)
	}
	if out, err := dockerOut(t, "run", "--rm", image, "sh", "-c", "fake; cat /registry-seen; [ -z \"$(ls -A /mngr-bake 2>/dev/null)\" ] && echo work-dir-empty"); err != nil ||
		!strings.Contains(out, "fake 1.2.3") || !strings.Contains(out, "http://127.0.0.1:4873/") || !strings.Contains(out, "work-dir-empty") {
		t.Errorf("the committed image: %v: %q", err, out)
	}
	cfg, _ := dockerOut(t, "image", "inspect", "-f", `{{json .Config.Cmd}} {{index .Config.Labels "`+AgentCLILabel+`"}} {{json .Config.Env}} {{json .Config.Entrypoint}}`, image)
	if !strings.HasPrefix(cfg, cmdBefore+" fake@1.2.3 ") || strings.Contains(cfg, "4873") || !strings.HasSuffix(cfg, " null") {
		t.Errorf("the committed image's config %q: want the command %s, the label, no installer setting and no entrypoint", cfg, cmdBefore)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("the work dir %s remains: %v", work, err)
	}
	if out, _ := dockerOut(t, "ps", "-a", "--filter", "name=^mngr-bake-clis$", "--format", "{{.Names}}"); out != "" {
		t.Errorf("the install container remains: %q", out)
	}

	id, _ := dockerOut(t, "image", "inspect", "-f", "{{.Id}}", image)
	out, err := run("echo 'npm ERR! 404' >&2; exit 3")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 8 || !strings.Contains(out, "npm ERR! 404") {
		t.Errorf("a failing install: %v: %s (want exit 8 with its output)", err, out)
	}
	if after, _ := dockerOut(t, "image", "inspect", "-f", "{{.Id}}", image); after != id {
		t.Errorf("a failed install changed the image: %s → %s", id, after)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("the work dir remains after a failure: %v", err)
	}
}

// TestAgentCLIsScript: the container's script installs each CLI with the
// agent start's installer, checks its pinned version and clears npm's
// and apt's caches; it parses.
func TestAgentCLIsScript(t *testing.T) {
	var clis []core.AgentCLI
	for _, ty := range core.BakeableTypes() {
		c, ok := core.BakeableCLI(ty)
		if !ok {
			t.Fatalf("%s has no CLI", ty)
		}
		clis = append(clis, c)
	}
	s := agentCLIsScript(clis)
	for _, want := range []string{"npm install -g", "@anthropic-ai/claude-code@" + core.ClaudeCodeVersion, "@openai/codex@" + core.CodexVersion,
		"claude --version", "codex --version", "*" + core.ShellQuote(core.CodexVersion) + "*)", "rm -rf /tmp/mngr-bake-home /root/.npm", "apt-get clean"} {
		if !strings.Contains(s, want) {
			t.Errorf("the script lacks %q", want)
		}
	}
	if out, err := exec.CommandContext(t.Context(), "sh", "-n", "-c", s).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v: %s", err, out)
	}
	if err := CheckInstallEnv([]string{"npm_config_registry=http://x/", "https_proxy=http://p:3128", "NODE_EXTRA_CA_CERTS=/c.pem"}); err != nil {
		t.Errorf("installer settings refused: %v", err)
	}
	for _, bad := range []string{"ANTHROPIC_API_KEY=sk", "noequals", "1X=y"} {
		if err := CheckInstallEnv([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestBakeScrubScript runs bake_scrub.sh in a container of azsim's VM image
// (Debian's Azure package set) holding what a builder holds after its
// create: everything per-VM or secret is gone afterwards (host keys, keys,
// the admin user with its home and sudoers entry, cloud-init's and the
// Azure agent's state, mngr's host dirs and units, DHCP leases, the
// machine id), and what the image is for stays.
func TestBakeScrubScript(t *testing.T) {
	testenv.NeedTools(t, "docker")
	image := os.Getenv("MNGR_TEST_VM_IMAGE")
	if image == "" {
		testenv.Missing(t, "MNGR_TEST_VM_IMAGE is not set (azsim's VM image, built by scripts/setup.sh)")
	}
	setup := `set -e
useradd -m -s /bin/bash azureuser
mkdir -p /home/azureuser/.ssh /root/.ssh /var/lib/cloud/instances/i-1 /var/lib/waagent /var/lib/mngr/hosts/h1 /var/lib/dhcp /etc/sudoers.d
echo key >/home/azureuser/.ssh/authorized_keys; echo key >/root/.ssh/authorized_keys
echo 'azureuser ALL=(ALL) NOPASSWD:ALL' >/etc/sudoers.d/90-cloud-init-users
echo hostkey >/etc/ssh/ssh_host_ed25519_key
echo userdata >/var/lib/cloud/instances/i-1/user-data.txt
echo ovf >/var/lib/waagent/ovf-env.xml
echo lease >/var/lib/dhcp/dhclient.eth0.leases
echo secret >/var/lib/mngr/hosts/h1/env
echo '[Unit]' >/etc/systemd/system/mngr-idle-stop.service
echo history >/root/.bash_history
echo 0123456789abcdef0123456789abcdef >/etc/machine-id
echo kept >/usr/local/share/kept
`
	check := `for p in /home/azureuser /etc/sudoers.d/90-cloud-init-users /etc/ssh/ssh_host_ed25519_key /root/.ssh/authorized_keys \
  /var/lib/cloud/instances/i-1 /var/lib/waagent/ovf-env.xml /var/lib/dhcp/dhclient.eth0.leases /var/lib/mngr/hosts \
  /etc/systemd/system/mngr-idle-stop.service /root/.bash_history; do
  [ -e "$p" ] && echo "left: $p"
done
id azureuser >/dev/null 2>&1 && echo "left: user azureuser"
[ -s /etc/machine-id ] && echo "left: machine id"
cat /usr/local/share/kept
id root >/dev/null && echo root-kept
`
	// As runRetry runs it: not under set -e (the scrub checks what matters).
	script := setup + "(\n" + core.ScriptCall(bakeScrubSh, "/var/lib/mngr/hosts", "azureuser") + "\n) || echo scrub-failed\n" + check
	out, err := exec.CommandContext(t.Context(), "docker", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "kept\nroot-kept" {
		t.Errorf("after the scrub:\n%s\nwant only what the image is for", got)
	}
}
