package vps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerKeyFile is Docker's published apt signing key
// (download.docker.com/linux/debian/gpg): primary key
// 9DC858229FC7DD38854AE2D88D81803C0EBFCD88 with a signing subkey
// D3306A018370199E527AE7997EA0A9C3F273FCD8.
const dockerKeyFile = "testdata/docker-apt-key.asc"

// TestDockerAptKeyCheck runs docker_apt_key_check, the function the
// docker-ce install runs on the VM, with the real gpg against Docker's real
// key: its primary fingerprint passes (in either case), the subkey's and
// another one fail, and so does a file with no key.
func TestDockerAptKeyCheck(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("gpg is not installed (scripts/setup.sh installs gnupg)")
	}
	empty := filepath.Join(t.TempDir(), "empty.asc")
	if err := os.WriteFile(empty, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, fpr string
		ok              bool
		wantErr         string
	}{
		{"primary", dockerKeyFile, DockerAptKeyFingerprint, true, ""},
		{"primary lower case", dockerKeyFile, strings.ToLower(DockerAptKeyFingerprint), true, ""},
		{"subkey", dockerKeyFile, "D3306A018370199E527AE7997EA0A9C3F273FCD8", false, "primary key fingerprint is " + DockerAptKeyFingerprint},
		{"other key", dockerKeyFile, "0123456789ABCDEF0123456789ABCDEF01234567", false, "want 0123456789ABCDEF0123456789ABCDEF01234567"},
		{"no key", empty, DockerAptKeyFingerprint, false, "found 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			script := dockerAptKeySh + `docker_apt_key_check "$1" "$2"` + "\n"
			cmd := exec.CommandContext(t.Context(), "sh", "-c", script, "sh", tt.file, tt.fpr)
			cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
			out, err := cmd.CombinedOutput()
			if tt.ok != (err == nil) {
				t.Fatalf("check ok = %v, want %v; output: %s", err == nil, tt.ok, out)
			}
			if !strings.Contains(string(out), tt.wantErr) {
				t.Errorf("output %q lacks %q", out, tt.wantErr)
			}
		})
	}
	// The key really has two fingerprints, which the old check compared
	// as one string.
	out, err := exec.CommandContext(t.Context(), "gpg", "--batch", "--homedir", t.TempDir(), "--show-keys", "--with-colons", dockerKeyFile).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "\nfpr:"); n != 2 {
		t.Errorf("Docker's key prints %d fpr records, want 2 (primary and signing subkey)", n)
	}
}

// TestGuardedStep runs a guarded step whose middle command fails and one
// that succeeds: the first is recorded as failed (set -e holds inside the
// guard), the second as ok, and both log their start and end.
func TestGuardedStep(t *testing.T) {
	dir := t.TempDir()
	failed, steps := filepath.Join(dir, "failed"), filepath.Join(dir, "steps")
	script := guardedStep("bad", "false\ntrue") + guardedStep("good", "true")
	script = strings.ReplaceAll(script, FailedMarker, failed)
	script = strings.ReplaceAll(script, SetupStepsLog, steps)
	if out, err := exec.CommandContext(t.Context(), "sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("guarded steps: %v: %s", err, out)
	}
	got, err := os.ReadFile(failed)
	if err != nil || string(got) != "bad\n" {
		t.Errorf("failed marker = %q, %v; want \"bad\\n\"", got, err)
	}
	log, err := os.ReadFile(steps)
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("step log line %q: want NAME EVENT TIME", l)
		}
		words = append(words, f[0]+" "+f[1])
	}
	if want := "bad start,bad failed,good start,good ok"; strings.Join(words, ",") != want {
		t.Errorf("step log = %q, want %q", strings.Join(words, ","), want)
	}
}

// TestUserDataDockerInstall renders each docker install and refuses an unknown one.
func TestUserDataDockerInstall(t *testing.T) {
	o := sampleOptions(t)
	for install, want := range map[string]string{"": "set -- debian ", DockerInstallDebian: "set -- debian ", DockerInstallCE: "set -- docker-ce "} {
		o.DockerInstall = install
		ud, err := UserData(o)
		if err != nil {
			t.Fatalf("%q: %v", install, err)
		}
		if !strings.Contains(string(ud), want) {
			t.Errorf("docker install %q: user data lacks %q", install, want)
		}
	}
	o.DockerInstall = "snap"
	if _, err := UserData(o); err == nil {
		t.Error("docker install \"snap\" was accepted")
	}
}
