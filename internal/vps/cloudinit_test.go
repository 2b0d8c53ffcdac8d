package vps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/testenv"
)

type cloudConfig struct {
	SSHDeleteKeys bool              `yaml:"ssh_deletekeys"`
	SSHKeys       map[string]string `yaml:"ssh_keys"`
	SSHPwauth     bool              `yaml:"ssh_pwauth"`
	DisableRoot   bool              `yaml:"disable_root"`
	WriteFiles    []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Runcmd []string `yaml:"runcmd"`
}

func sampleOptions(t testing.TB) UserDataOptions {
	t.Helper()
	pemText, pub, err := sshx.GenerateEd25519("host")
	if err != nil {
		t.Fatal(err)
	}
	_, rootPub, err := sshx.GenerateEd25519("root key")
	if err != nil {
		t.Fatal(err)
	}
	return UserDataOptions{
		HostID:              core.HostID("host-0123456789abcdef0123456789abcdef"),
		HostKeyPEM:          string(pemText),
		HostKeyPub:          pub,
		RootAuthorizedKey:   rootPub,
		AdminUser:           "azureuser",
		SelfStopScript:      "#!/bin/sh\ncurl -s \"$ARM/deallocate?x=1\" || logger 'refused'\n",
		AutoShutdownSeconds: 61,
	}
}

func parseUserData(t testing.TB, ud []byte) cloudConfig {
	t.Helper()
	if !strings.HasPrefix(string(ud), "#cloud-config\n") {
		t.Fatalf("user data does not start with #cloud-config:\n%s", ud)
	}
	var cc cloudConfig
	if err := yaml.Unmarshal(ud, &cc); err != nil {
		t.Fatalf("user data is not valid YAML: %v\n%s", err, ud)
	}
	return cc
}

func TestUserDataContent(t *testing.T) {
	o := sampleOptions(t)
	ud, err := UserData(o)
	if err != nil {
		t.Fatal(err)
	}
	cc := parseUserData(t, ud)
	if !cc.SSHDeleteKeys || cc.SSHPwauth || cc.DisableRoot {
		t.Errorf("ssh flags: %+v", cc)
	}
	if d := cmp.Diff(map[string]string{"ed25519_private": o.HostKeyPEM, "ed25519_public": o.HostKeyPub}, cc.SSHKeys); d != "" {
		t.Errorf("ssh_keys (-want +got)\n%s", d)
	}
	files := map[string]string{}
	for _, f := range cc.WriteFiles {
		files[f.Path] = f.Permissions + " " + f.Content
	}
	if files[ScrubScriptPath] != "0700 "+scrubScript || !strings.Contains(files[ScrubUnitPath], "ExecStart="+ScrubScriptPath+"\n") {
		t.Errorf("scrub script %q, unit %q", files[ScrubScriptPath], files[ScrubUnitPath])
	}
	// The scrub is wanted by cloud-init.target: wanted by multi-user.target
	// it would form an ordering cycle with cloud-final.service.
	if !strings.Contains(files[ScrubUnitPath], "After=cloud-final.service\n") || !strings.Contains(files[ScrubUnitPath], "WantedBy=cloud-init.target\n") ||
		strings.Contains(files[ScrubUnitPath], "multi-user.target") {
		t.Errorf("scrub unit = %q", files[ScrubUnitPath])
	}
	if files[MetadataFirewallScriptPath] != "0700 "+metadataFirewallSh ||
		files[MetadataFirewallDropInPath] != "0644 [Service]\nExecStartPre=-"+MetadataFirewallScriptPath+"\nExecStartPost="+MetadataFirewallScriptPath+"\n" {
		t.Errorf("metadata firewall script %q, drop-in %q", files[MetadataFirewallScriptPath], files[MetadataFirewallDropInPath])
	}
	if !strings.Contains(files[IdleStopScriptPath], "/host_dir/"+IdleStopRefusedRelPath+" 30 600 7200\n") {
		t.Errorf("idle stop script does not bind the refused record and the retry schedule: %q", files[IdleStopScriptPath])
	}
	if files[SelfStopScriptPath] != "0755 "+o.SelfStopScript {
		t.Errorf("self-stop script = %q", files[SelfStopScriptPath])
	}
	sentinel := "/var/lib/mngr/hosts/0123456789abcdef0123456789abcdef/host_dir/commands/stop-instance-requested"
	if !strings.Contains(files["/etc/systemd/system/mngr-idle-watcher.path"], "PathExists="+sentinel+"\n") {
		t.Errorf("path unit = %q", files["/etc/systemd/system/mngr-idle-watcher.path"])
	}
	if strings.Contains(files[IdleStopScriptPath], "poweroff") || strings.Contains(files[IdleStopScriptPath], "shutdown") {
		t.Errorf("idle stop script may power off: %q", files[IdleStopScriptPath])
	}
	n := len(cc.Runcmd)
	if n < 3 {
		t.Fatalf("runcmd too short: %q", cc.Runcmd)
	}
	if cc.Runcmd[n-2] != "touch "+ReadyMarker+"\n" || cc.Runcmd[n-1] != "shutdown -P +2 'mngr auto-shutdown after 2 minutes'\n" {
		t.Errorf("runcmd tail = %q", cc.Runcmd[n-2:])
	}
	all := strings.Join(cc.Runcmd, "\n")
	for _, want := range []string{"printf '%s\\n' " + core.ShellQuote(o.RootAuthorizedKey), "command -v docker", "set -- debian 29.5.1 " + DockerAptKeyFingerprint + "\n", "apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends docker.io",
		"for u in azureuser admin", "MaxSessions 100", "systemctl enable --now mngr-idle-watcher.path",
		"systemctl start --no-block mngr-scrub-user-data.service", `docker_apt_key_check /etc/apt/keyrings/docker.asc.new "$key_fingerprint"`,
		"systemctl daemon-reload\n" + MetadataFirewallScriptPath + "\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("runcmd lacks %q", want)
		}
	}
	if strings.Contains(all, "MaxStartups") {
		t.Error("runcmd raises MaxStartups on the internet-facing sshd")
	}
	for i, c := range cc.Runcmd {
		shellCheck(t, c, i)
	}
	// Without a self-stopper and auto-shutdown: no units, no shutdown.
	o.SelfStopScript, o.AutoShutdownSeconds = "", 0
	ud, err = UserData(o)
	if err != nil {
		t.Fatal(err)
	}
	cc = parseUserData(t, ud)
	var paths []string
	for _, f := range cc.WriteFiles {
		paths = append(paths, f.Path)
	}
	if d := cmp.Diff([]string{ScrubScriptPath, ScrubUnitPath, MetadataFirewallScriptPath, MetadataFirewallDropInPath}, paths); d != "" || strings.Contains(strings.Join(cc.Runcmd, ""), "shutdown -P") {
		t.Errorf("unexpected idle units or shutdown: files (-want +got)\n%s", d)
	}
}

func shellCheck(t testing.TB, script string, i int) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "sh", "-n", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("runcmd[%d] is not valid sh: %v %s\n%s", i, err, out, script)
	}
}

func TestUserDataRejectsBadInput(t *testing.T) {
	o := sampleOptions(t)
	o.HostID = "host-'; rm -rf /"
	if _, err := UserData(o); err == nil {
		t.Error("bad host id accepted")
	}
	o = sampleOptions(t)
	o.HostKeyPEM = ""
	if _, err := UserData(o); err == nil {
		t.Error("missing host key accepted")
	}
}

func TestAutoShutdownMinutes(t *testing.T) {
	for secs, want := range map[int]string{1: "+1", 60: "+1", 61: "+2", 3600: "+60"} {
		o := sampleOptions(t)
		o.AutoShutdownSeconds = secs
		ud, err := UserData(o)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ud), "shutdown -P "+want+" ") {
			t.Errorf("auto_shutdown_seconds=%d: want shutdown %s", secs, want)
		}
	}
}

// TestUserDataCloudInitSchema validates the document with the real
// cloud-init schema validator.
func TestUserDataCloudInitSchema(t *testing.T) {
	if _, err := exec.LookPath("cloud-init"); err != nil {
		testenv.Missing(t, "cloud-init not installed")
	}
	for name, o := range map[string]UserDataOptions{
		"full": sampleOptions(t),
		"minimal": func() UserDataOptions {
			o := sampleOptions(t)
			o.SelfStopScript, o.AutoShutdownSeconds, o.AdminUser = "", 0, ""
			return o
		}(),
		"odd": func() UserDataOptions {
			o := sampleOptions(t)
			o.AdminUser = "we'ird \"user\"\n$(x)"
			o.SelfStopScript = "  leading space\n\ttab\u2028sep\x01ctl #x: y"
			return o
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			ud, err := UserData(o)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "user-data")
			if err := os.WriteFile(f, ud, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, "cloud-init", "schema", "--config-file", f).CombinedOutput()
			if err != nil {
				t.Fatalf("cloud-init schema: %v\n%s\n---\n%s", err, out, ud)
			}
		})
	}
}

func FuzzUserData(f *testing.F) {
	f.Add("azureuser", "#!/bin/sh\necho hi\n", "ssh-ed25519 AAAA comment", 0)
	f.Add("it's", "line1\r\nline2 \n\n\n", "k 'q' \"dq\" $HOME `x`", 90)
	f.Add("", "  indented\n\tx", "ünïcødé ✓ 🚀", 1)
	f.Add("a\nb", "\u2028\u2029\ufeff\x85\x00\x1b[0m", "#comment: value", -5)
	f.Fuzz(func(t *testing.T, admin, script, rootKey string, shutdown int) {
		o := sampleOptions(t)
		o.AdminUser, o.SelfStopScript, o.RootAuthorizedKey, o.AutoShutdownSeconds = admin, script, rootKey, shutdown%100000
		ud, err := UserData(o)
		if strings.TrimSpace(rootKey) == "" || strings.ContainsRune(rootKey, 0) || strings.ContainsRune(admin, 0) {
			if err == nil {
				t.Fatal("empty root key or NUL byte in a shell value accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		cc := parseUserData(t, ud)
		if script != "" && utf8.ValidString(script) {
			found := false
			for _, wf := range cc.WriteFiles {
				if wf.Path == SelfStopScriptPath {
					found = true
					if wf.Content != ensureNewline(script) {
						t.Fatalf("self-stop script changed in YAML: %q -> %q", script, wf.Content)
					}
				}
			}
			if !found {
				t.Fatal("self-stop script missing")
			}
		}
		if utf8.ValidString(rootKey) && !strings.Contains(cc.Runcmd[0], "printf '%s\\n' "+core.ShellQuote(strings.TrimSpace(rootKey))+" >>") {
			t.Fatalf("root key not shell-quoted in runcmd[0]: %q", cc.Runcmd[0])
		}
	})
}

// TestScrubScriptShredsUserDataCopies runs the scrub script on a copy of
// cloud-init's instance directory layout and Azure's provisioning
// document: the plain user data copies go; the CustomData of ovf-env.xml is
// blanked in place (same file, mode and the rest of the document); a cache
// python cannot rewrite is removed; everything else (scripts, vendor data)
// stays; and a second run with nothing to do succeeds.
func TestScrubScriptShredsUserDataCopies(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	root := t.TempDir()
	inst := filepath.Join(root, "cloud", "instances", "iid-1")
	keep := []string{"scripts/runcmd", "vendor-data.txt"}
	gone := []string{"user-data.txt", "user-data.txt.i", "cloud-config.txt", "obj.pkl"}
	for _, f := range append(append([]string{}, keep...), gone...) {
		p := filepath.Join(inst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ovf := filepath.Join(root, "waagent", "ovf-env.xml")
	if err := os.MkdirAll(filepath.Dir(ovf), 0o700); err != nil {
		t.Fatal(err)
	}
	doc := `<ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure">` +
		`<ns1:ProvisioningSection><ns1:LinuxProvisioningConfigurationSet><ns1:UserName>azureuser</ns1:UserName>` +
		`<ns1:CustomData>I2Nsb3VkLWNvbmZpZwpzc2hfa2V5czoK</ns1:CustomData></ns1:LinuxProvisioningConfigurationSet></ns1:ProvisioningSection></ns0:Environment>`
	if err := os.WriteFile(ovf, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(ovf)
	if err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(strings.ReplaceAll(scrubScript, "/var/lib/cloud/", root+"/cloud/"), "/var/lib/waagent/", root+"/waagent/")
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "logger"), []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := exec.CommandContext(t.Context(), "sh", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scrub: %v: %s", err, out)
		}
	}
	for _, f := range keep {
		if _, err := os.Stat(filepath.Join(inst, f)); err != nil {
			t.Errorf("scrub removed %s: %v", f, err)
		}
	}
	for _, f := range gone {
		if _, err := os.Stat(filepath.Join(inst, f)); err == nil {
			t.Errorf("scrub left %s", f)
		}
	}
	got, err := os.ReadFile(ovf)
	if err != nil {
		t.Fatalf("scrub removed ovf-env.xml: %v", err)
	}
	if want := strings.Replace(doc, "I2Nsb3VkLWNvbmZpZwpzc2hfa2V5czoK", "", 1); string(got) != want {
		t.Errorf("ovf-env.xml = %s\nwant %s", got, want)
	}
	after, err := os.Stat(ovf)
	if err != nil || !os.SameFile(before, after) || after.Mode().Perm() != 0o600 {
		t.Errorf("ovf-env.xml was replaced or changed mode: %v %v", after.Mode(), err)
	}
}
