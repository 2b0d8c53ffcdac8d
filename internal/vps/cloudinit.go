package vps

import (
	"fmt"
	"math"
	"path"
	"strings"

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
	// DockerAptVersion is the pinned Docker CE version installed when a VM has no docker.
	DockerAptVersion = "29.5.1"
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
}

var hostIDRe = core.LazyRegexp(`^host-[0-9a-f]{32}$`)

// UserData renders the cloud-init #cloud-config document. Every shell value
// goes through core.ShellQuote and every YAML string through yamlString, so
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
	dataDir := VMHostDataDir(o.HostID)
	sentinel := path.Join(dataDir, "host_dir", SentinelRelPath)

	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString("ssh_deletekeys: true\n")
	b.WriteString("ssh_keys:\n")
	b.WriteString("  ed25519_private: " + yamlString(ensureNewline(o.HostKeyPEM), 4) + "\n")
	b.WriteString("  ed25519_public: " + yamlString(strings.TrimSpace(o.HostKeyPub), 4) + "\n")
	b.WriteString("ssh_pwauth: false\n")
	b.WriteString("disable_root: false\n")

	type file struct{ path, perm, content string }
	var files []file
	if o.SelfStopScript != "" {
		files = append(files,
			file{SelfStopScriptPath, "0755", ensureNewline(o.SelfStopScript)},
			file{IdleStopScriptPath, "0755", idleStopScript(sentinel)},
			file{"/etc/systemd/system/mngr-idle-watcher.path", "0644", idlePathUnit(sentinel)},
			file{"/etc/systemd/system/mngr-idle-watcher.service", "0644", idleServiceUnit()},
		)
	}
	if len(files) > 0 {
		b.WriteString("write_files:\n")
		for _, f := range files {
			b.WriteString("  - path: " + yamlString(f.path, 6) + "\n")
			b.WriteString("    permissions: " + yamlString(f.perm, 6) + "\n")
			b.WriteString("    owner: \"root:root\"\n")
			b.WriteString("    content: " + yamlString(f.content, 6) + "\n")
		}
	}

	b.WriteString("runcmd:\n")
	for _, step := range setupSteps(o, dataDir) {
		b.WriteString("  - " + yamlString(step, 4) + "\n")
	}
	return []byte(b.String()), nil
}

// guardedStep wraps a script so that its failure is recorded and does not stop the
// steps after it (cloud-init runs runcmd as one shell script).
func guardedStep(name, script string) string {
	return "(\nset -e\n" + strings.TrimRight(script, "\n") + "\n) || echo " + core.ShellQuote(name) + " >> " + FailedMarker + "\n"
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
	steps = append(steps, guardedStep("base-packages", `missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v rsync >/dev/null 2>&1 || missing="$missing rsync"
command -v jq >/dev/null 2>&1 || missing="$missing jq"
command -v gpg >/dev/null 2>&1 || missing="$missing gnupg"
command -v inotifywait >/dev/null 2>&1 || missing="$missing inotify-tools"
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y $missing
fi`))
	steps = append(steps, guardedStep("docker", `if ! command -v docker >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  . /etc/os-release
  DOCKER_APT_VERSION="5:`+DockerAptVersion+`-1~${ID}.${VERSION_ID}~${VERSION_CODENAME}"
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL "https://download.docker.com/linux/${ID}/gpg" -o /etc/apt/keyrings/docker.asc
  chmod a+r /etc/apt/keyrings/docker.asc
  echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/${ID} ${VERSION_CODENAME} stable" > /etc/apt/sources.list.d/docker.list
  apt-get update
  apt-get install -y --allow-downgrades docker-ce="${DOCKER_APT_VERSION}" docker-ce-cli="${DOCKER_APT_VERSION}" containerd.io docker-buildx-plugin docker-compose-plugin
fi
systemctl enable docker >/dev/null 2>&1 || true
systemctl start docker`))
	steps = append(steps, guardedStep("sshd-tuning", `if ! grep -q '^MaxSessions' /etc/ssh/sshd_config 2>/dev/null; then
  printf '\nMaxSessions 100\nMaxStartups 100:30:200\n' >> /etc/ssh/sshd_config
  systemctl restart ssh 2>/dev/null || systemctl restart sshd 2>/dev/null || service ssh restart 2>/dev/null || true
fi`))
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

// idleStopScript removes the sentinel and runs the client's self-stop
// script, logging its outcome. It never powers the VM off: on clouds where
// an OS shutdown keeps billing, that would only strand the VM.
func idleStopScript(sentinel string) string {
	return `#!/bin/sh
# Run by mngr-idle-watcher.service when the idle sentinel appears.
rm -f ` + core.ShellQuote(sentinel) + `
if ` + SelfStopScriptPath + `; then
  logger -t mngr-idle "self-stop requested"
else
  logger -t mngr-idle "self-stop refused or failed (exit $?); the VM keeps running"
fi
exit 0
`
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

// yamlString renders s as a YAML scalar: a literal block scalar (indented by
// indent spaces) when every character may appear in one and the
// indentation can be detected, else a double-quoted string.
func yamlString(s string, indent int) string {
	if strings.Contains(s, "\n") && blockSafe(s) {
		trimmed := strings.TrimRight(s, "\n")
		chomp := "-"
		switch len(s) - len(trimmed) {
		case 0:
		case 1:
			chomp = ""
		default:
			chomp = "+"
		}
		pad := strings.Repeat(" ", indent)
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		var b strings.Builder
		b.WriteString("|" + chomp)
		for _, l := range lines {
			b.WriteString("\n")
			if l != "" {
				b.WriteString(pad + l)
			}
		}
		return b.String()
	}
	return yamlQuoted(s)
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

// yamlQuoted renders s as a YAML double-quoted scalar, escaping the quote,
// the backslash and every character that is not printable in YAML. Invalid
// UTF-8 bytes cannot be represented in YAML and become U+FFFD.
func yamlQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xfeff ||
			r == 0xfffe || r == 0xffff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
