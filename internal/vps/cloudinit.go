package vps

import (
	"bytes"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/mngr-azure/mngr/internal/core"
)

// Paths on the VM.
const (
	// VMDataRoot holds one directory per host on the VM.
	VMDataRoot = "/var/lib/mngr/hosts"
	// VMImageTar is where a VM image may carry a baked agent image tarball.
	VMImageTar = "/var/lib/mngr/images/agent.tar"
	// ReadyMarker is written by cloud-init once the VM is set up.
	ReadyMarker = "/var/run/mngr-ready"
	// FailedMarker lists the cloud-init setup steps that failed.
	FailedMarker = "/var/run/mngr-setup-failed"
	// SelfStopScriptPath is the client's in-guest self-stop script.
	SelfStopScriptPath = "/usr/local/sbin/mngr-self-stop"
	// IdleStopScriptPath is run by the idle watcher's systemd service.
	IdleStopScriptPath = "/usr/local/sbin/mngr-idle-stop"
	// SentinelRelPath is the idle sentinel relative to the host dir.
	SentinelRelPath = "commands/stop-instance-requested"
	// SetupStepsLog is where the VM's cloud-init setup steps log when each
	// starts and ends (name, "start"/"ok"/"failed", Unix time), so the
	// time of each phase can be read on the VM.
	SetupStepsLog = "/var/log/mngr-setup-steps.log"
	// DockerInstallDebian installs Debian's own docker.io from the Debian
	// archive the VM's apt uses (the default).
	DockerInstallDebian = "debian"
	// DockerInstallCE installs docker-ce DockerAptVersion from Docker's apt
	// repository, after checking its signing key.
	DockerInstallCE = "docker-ce"
	// DockerAptVersion is the pinned Docker CE version of DockerInstallCE.
	DockerAptVersion = "29.5.1"
	// DockerAptKeyFingerprint is the fingerprint of Docker's apt signing
	// key (Docker Release (CE deb) <docker@docker.com>, as Docker's install
	// docs publish it). The key downloaded at install must have it, or
	// Docker is not installed.
	DockerAptKeyFingerprint = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
	// ScrubScriptPath removes cloud-init's plain copies of the user data,
	// which hold the VM's private host key, once cloud-init has run.
	ScrubScriptPath = "/usr/local/sbin/mngr-scrub-user-data"
	// ScrubUnitPath runs ScrubScriptPath after cloud-init on every boot
	// (cloud-init writes the copies again at each boot).
	ScrubUnitPath = "/etc/systemd/system/mngr-scrub-user-data.service"
	// MetadataFirewallScriptPath sets the firewall rules that keep
	// containers away from the instance metadata service and WireServer.
	MetadataFirewallScriptPath = "/usr/local/sbin/mngr-metadata-firewall"
	// MetadataFirewallDropInPath runs MetadataFirewallScriptPath before and
	// after every start of docker.service (each boot, each docker restart).
	MetadataFirewallDropInPath = "/etc/systemd/system/docker.service.d/mngr-metadata-firewall.conf"
	// IdleStopRefusedRelPath, relative to the host dir, records the last
	// self-deallocate the cloud refused (a line: time, then reason); the
	// idle stop removes it once a deallocate is accepted.
	IdleStopRefusedRelPath = "commands/idle-stop-refused"
)

// Idle-stop retry schedule: a refused or failed self-deallocate is tried
// again after IdleStopFirstRetry, the wait doubling up to IdleStopMaxRetry,
// until IdleStopRetryFor has passed since the first try.
const (
	IdleStopFirstRetry = 30 * time.Second
	IdleStopMaxRetry   = 10 * time.Minute
	IdleStopRetryFor   = 2 * time.Hour
)

// VMHostDataDir returns the per-host data directory on the VM.
func VMHostDataDir(id core.HostID) string { return path.Join(VMDataRoot, id.Hex()) }

// UserDataOptions are the inputs of the cloud-init document.
type UserDataOptions struct {
	HostID core.HostID
	// HostKeyPEM and HostKeyPub are the VM's sshd Ed25519 host key, which
	// mngr pins before it first connects.
	HostKeyPEM string
	HostKeyPub string
	// RootAuthorizedKey is mngr's VM client public key, authorized for root.
	RootAuthorizedKey string
	// AdminUser is the VM's admin user whose authorized keys are forwarded to root.
	AdminUser string
	// SelfStopScript, when set, is installed and run by the idle watcher.
	SelfStopScript string
	// AutoShutdownSeconds, when positive, schedules an OS shutdown.
	AutoShutdownSeconds int
	// DockerInstall is how a VM without docker gets it: DockerInstallDebian
	// (also when empty) or DockerInstallCE.
	DockerInstall string
	// Baked says the VM starts from an image mngr baked (see BakedSteps):
	// the steps the image already holds are left out, only the per-host
	// ones run.
	Baked bool
}

// BakedSteps are the setup steps a baked image holds, so that a create
// from it skips them (the agent image load skips itself when the image is
// in dockerd already).
var BakedSteps = []string{"base-packages", "docker"}

// BakeRecipe is the text of the steps a baked image holds, Docker
// installed the dockerInstall way: a change in it changes the recipe hash
// of the images mngr bakes.
func BakeRecipe(dockerInstall string) string {
	return cloudInitBasePackagesSh + "\n" + dockerStep(dockerInstall) + "\n" + bakeScrubSh
}

// dockerStep is the docker set-up step's script for an install choice
// (DockerInstallDebian when empty).
func dockerStep(install string) string {
	if install == "" {
		install = DockerInstallDebian
	}
	return core.ScriptCall(dockerAptKeySh+cloudInitDockerSh, install, DockerAptVersion, DockerAptKeyFingerprint)
}

var hostIDRe = core.LazyRegexp(`^host-[0-9a-f]{32}$`)

// userDataDoc is the #cloud-config document mngr sends, field by field in
// the order it is rendered.
type userDataDoc struct {
	// SSHDeleteKeys removes the image's own host keys.
	SSHDeleteKeys bool `yaml:"ssh_deletekeys"`
	// SSHKeys is the host key sshd presents from its first start.
	SSHKeys     cloudSSHKeys     `yaml:"ssh_keys"`
	SSHPwauth   bool             `yaml:"ssh_pwauth"`
	DisableRoot bool             `yaml:"disable_root"`
	WriteFiles  []cloudWriteFile `yaml:"write_files,omitempty"`
	// Runcmd are shell scripts cloud-init runs once, in order, as one script.
	Runcmd []yamlText `yaml:"runcmd"`
}

// cloudSSHKeys is cloud-init's ssh_keys: one Ed25519 host key pair.
type cloudSSHKeys struct {
	Ed25519Private yamlText `yaml:"ed25519_private"`
	Ed25519Public  yamlText `yaml:"ed25519_public"`
}

// cloudWriteFile is one entry of cloud-init's write_files.
type cloudWriteFile struct {
	Path        yamlText `yaml:"path"`
	Permissions yamlText `yaml:"permissions"`
	Owner       yamlText `yaml:"owner"`
	Content     yamlText `yaml:"content"`
}

// yamlText is a string the YAML library renders as a literal block scalar
// when it spans lines and every character may appear in one, else as the
// library decides (plain or quoted). Invalid UTF-8 cannot be carried by
// YAML and becomes U+FFFD.
type yamlText string

// MarshalYAML implements yaml.Marshaler.
func (t yamlText) MarshalYAML() (any, error) {
	s := strings.ToValidUTF8(string(t), "\uFFFD")
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.DoubleQuotedStyle
		if blockSafe(s) {
			n.Style = yaml.LiteralStyle
		}
	}
	return n, nil
}

// UserData renders the cloud-init #cloud-config document from a userDataDoc
// with the YAML library. Every shell value goes through core.ShellQuote, so
// any input yields valid YAML and no unquoted shell word.
func UserData(o UserDataOptions) ([]byte, error) {
	if !hostIDRe().MatchString(string(o.HostID)) {
		return nil, fmt.Errorf("render user-data: bad host id %q: %w", o.HostID, core.ErrInvalidInput)
	}
	if strings.TrimSpace(o.HostKeyPEM) == "" || strings.TrimSpace(o.HostKeyPub) == "" || strings.TrimSpace(o.RootAuthorizedKey) == "" {
		return nil, fmt.Errorf("render user-data: host key and root key are required: %w", core.ErrInvalidInput)
	}
	// A shell script cannot carry a NUL byte, so values that reach runcmd must not hold one.
	if strings.ContainsRune(o.RootAuthorizedKey, 0) || strings.ContainsRune(o.AdminUser, 0) {
		return nil, fmt.Errorf("render user-data: root key or admin user holds a NUL byte: %w", core.ErrInvalidInput)
	}
	switch o.DockerInstall {
	case "", DockerInstallDebian, DockerInstallCE:
	default:
		return nil, fmt.Errorf("render user-data: docker install %q: want %q or %q: %w", o.DockerInstall, DockerInstallDebian, DockerInstallCE, core.ErrInvalidInput)
	}
	dataDir := VMHostDataDir(o.HostID)
	sentinel := path.Join(dataDir, "host_dir", SentinelRelPath)

	cc := userDataDoc{
		SSHDeleteKeys: true,
		SSHKeys: cloudSSHKeys{
			Ed25519Private: yamlText(ensureNewline(o.HostKeyPEM)),
			Ed25519Public:  yamlText(strings.TrimSpace(o.HostKeyPub)),
		},
		SSHPwauth:   false,
		DisableRoot: false,
	}
	file := func(path, perm, content string) cloudWriteFile {
		return cloudWriteFile{Path: yamlText(path), Permissions: yamlText(perm), Owner: "root:root", Content: yamlText(content)}
	}
	cc.WriteFiles = append(cc.WriteFiles,
		file(ScrubScriptPath, "0700", scrubScript),
		file(ScrubUnitPath, "0644", scrubServiceUnit),
		file(MetadataFirewallScriptPath, "0700", metadataFirewallSh),
		file(MetadataFirewallDropInPath, "0644", metadataFirewallDropIn))
	if o.SelfStopScript != "" {
		refused := path.Join(dataDir, "host_dir", IdleStopRefusedRelPath)
		cc.WriteFiles = append(cc.WriteFiles,
			file(SelfStopScriptPath, "0755", ensureNewline(o.SelfStopScript)),
			file(IdleStopScriptPath, "0755", idleStopScript(sentinel, refused)),
			file("/etc/systemd/system/mngr-idle-watcher.path", "0644", idlePathUnit(sentinel)),
			file("/etc/systemd/system/mngr-idle-watcher.service", "0644", idleServiceUnit()),
		)
	}
	for _, step := range setupSteps(o, dataDir) {
		cc.Runcmd = append(cc.Runcmd, yamlText(step))
	}

	var b bytes.Buffer
	b.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cc); err != nil {
		return nil, fmt.Errorf("render user-data: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render user-data: %w", err)
	}
	return b.Bytes(), nil
}

// guardedStep wraps a script so that its failure is recorded and does not stop the
// steps after it (cloud-init runs runcmd as one shell script), and logs the
// step's start and end times to SetupStepsLog. The subshell's status is read
// after it ends, not tested by || or if: in a tested context the shell
// ignores set -e, and a failing command in the middle would go unseen.
func guardedStep(name, script string) string {
	q := core.ShellQuote(name)
	stamp := func(what string) string {
		return "echo " + q + " " + what + " \"$(date +%s.%N)\" >> " + SetupStepsLog
	}
	return stamp("start") + "\n(\nset -e\n" + strings.TrimRight(script, "\n") + "\n)\n" +
		"if [ $? -eq 0 ]; then " + stamp("ok") + "; else " + stamp("failed") + "; echo " + q + " >> " + FailedMarker + "; fi\n"
}

func setupSteps(o UserDataOptions, dataDir string) []string {
	var steps []string
	users := []string{"admin", "azureuser", "debian", "ubuntu"}
	if o.AdminUser != "" {
		users = append([]string{o.AdminUser}, users...)
	}
	steps = append(steps, guardedStep("root-authorized-key", strings.Join([]string{
		"mkdir -p /root/.ssh && chmod 0700 /root/.ssh",
		"printf '%s\\n' " + core.ShellQuote(strings.TrimSpace(o.RootAuthorizedKey)) + " >> /root/.ssh/authorized_keys",
		"for u in " + core.ShellJoin(users) + "; do if [ -f \"/home/$u/.ssh/authorized_keys\" ]; then cat \"/home/$u/.ssh/authorized_keys\" >> /root/.ssh/authorized_keys; fi; done",
		"chmod 0600 /root/.ssh/authorized_keys",
	}, "\n")))
	if !o.Baked {
		steps = append(steps, guardedStep("base-packages", cloudInitBasePackagesSh))
		steps = append(steps, guardedStep("docker", dockerStep(o.DockerInstall)))
	}
	// A dockerd that ran before the drop-in was written (a preinstalled or
	// baked one) gets the rules now; later starts run them through the
	// drop-in. Per host: a baked image runs it too.
	steps = append(steps, guardedStep("metadata-firewall",
		"systemctl daemon-reload\n"+MetadataFirewallScriptPath))
	steps = append(steps, guardedStep("sshd-tuning", `if ! grep -q '^MaxSessions' /etc/ssh/sshd_config 2>/dev/null; then
  printf '\nMaxSessions 100\n' >> /etc/ssh/sshd_config
  systemctl restart ssh 2>/dev/null || systemctl restart sshd 2>/dev/null || service ssh restart 2>/dev/null || true
fi`))
	// The scrub waits for cloud-final (this script's stage) to end; at later
	// boots cloud-init.target starts it.
	steps = append(steps, guardedStep("scrub-user-data",
		"systemctl daemon-reload\nsystemctl enable mngr-scrub-user-data.service\nsystemctl start --no-block mngr-scrub-user-data.service"))
	steps = append(steps, guardedStep("host-data-dir",
		"mkdir -p "+core.ShellJoin([]string{dataDir + "/host_dir/commands", dataDir + "/agents"})))
	if o.SelfStopScript != "" {
		steps = append(steps, guardedStep("idle-watcher",
			"systemctl daemon-reload\nsystemctl enable --now mngr-idle-watcher.path"))
	}
	steps = append(steps, "touch "+ReadyMarker+"\n")
	if o.AutoShutdownSeconds > 0 {
		n := max(1, int(math.Ceil(float64(o.AutoShutdownSeconds)/60)))
		steps = append(steps, fmt.Sprintf("shutdown -P +%d %s\n", n,
			core.ShellQuote(fmt.Sprintf("mngr auto-shutdown after %d minutes", n))))
	}
	return steps
}

// scrubServiceUnit runs scrubScript once cloud-init is done, at every boot.
// It is wanted by cloud-init.target, which is ordered after
// multi-user.target like cloud-final.service: wanted by multi-user.target
// it would form an ordering cycle with cloud-final (a target is after what
// it wants), which systemd breaks by dropping a job at boot. It stays
// active once it ran, so `systemctl is-active` tells that this boot's ran.
const scrubServiceUnit = `[Unit]
Description=Remove cloud-init's copies of the user data (they hold the ssh host key)
After=cloud-final.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=` + ScrubScriptPath + `
[Install]
WantedBy=cloud-init.target
`

// metadataFirewallDropIn runs metadataFirewallSh around every start of
// dockerd: before it (so no container it restarts gets a moment without
// the rules; a failure there is tolerated, iptables may not be installed
// yet) and after it (a failure stops docker: no container runs without
// the rules).
const metadataFirewallDropIn = `[Service]
ExecStartPre=-` + MetadataFirewallScriptPath + `
ExecStartPost=` + MetadataFirewallScriptPath + `
`

// idleStopScript (scripts/idle_stop.sh) removes the sentinel and runs the
// client's self-stop script, retrying a refused or failed one on the
// IdleStop* schedule and recording the refusal in the refused file (which
// `mngr list` shows). It never powers the VM off: on clouds where an OS
// shutdown keeps billing, that would only strand the VM.
func idleStopScript(sentinel, refused string) string {
	return core.ScriptCall(idleStopSh, sentinel, SelfStopScriptPath, refused,
		strconv.Itoa(int(IdleStopFirstRetry.Seconds())), strconv.Itoa(int(IdleStopMaxRetry.Seconds())), strconv.Itoa(int(IdleStopRetryFor.Seconds())))
}

func idlePathUnit(sentinel string) string {
	return `[Unit]
Description=Watch for the mngr idle sentinel and stop this VM when idle
[Path]
PathExists=` + sentinel + `
Unit=mngr-idle-watcher.service
[Install]
WantedBy=multi-user.target
`
}

func idleServiceUnit() string {
	return `[Unit]
Description=Stop this VM because mngr's idle watcher found no activity
[Service]
Type=oneshot
ExecStart=` + IdleStopScriptPath + `
`
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// blockSafe reports whether s can be a literal block scalar: non-empty, a
// first line that starts with a visible character, trailing spaces nowhere
// (they would be ambiguous around chomping), and only printable characters
// YAML allows unescaped (no C0/C1 controls other than tab and newline, no
// carriage return, no Unicode line or paragraph separators, no BOM).
func blockSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' {
		return false
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
			return false
		}
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return false
		case r == 0x2028 || r == 0x2029 || r == 0xfeff:
			return false
		case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
			return false
		}
	}
	return strings.ToValidUTF8(s, "") == s
}
