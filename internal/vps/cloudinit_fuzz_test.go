package vps

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// FuzzUserDataAllFields puts quotes, newlines, controls and odd unicode in
// every user-controlled field of the cloud-init document at once (host key
// pair, root key, admin user, self-stop script, shutdown delay) and checks
// that the YAML parses, that every value comes back exactly (invalid UTF-8
// as U+FFFD, which is all YAML can carry), that user values reach the shell
// only through core.ShellQuote, and that the runcmd script cloud-init builds
// from the steps passes `sh -n`.
func FuzzUserDataAllFields(f *testing.F) {
	f.Add("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n", "ssh-ed25519 AAAA host", "ssh-ed25519 AAAA me@x", "azureuser", "#!/bin/sh\nexit 0\n", 61)
	f.Add("k'ey\"\n\n", " pub\twith tab ", "it's \"$(rm -rf /)\" `id`", "a'; reboot; '", "x: y\n- z\n", 1)
	f.Add("  leading\nspace", "\u2028\u2029", "ünïcødé ✓ 🚀\r\n", "\x85\ufeff", "|\n>\n", 3600)
	f.Add("\x00\x1b[31m", "#not a comment", "key\nsecond line", "", "\xff\xfe", 0)
	f.Add("---\n...\n", "'", "--- # doc", "u\\\\", "%YAML 1.1", -7)
	f.Fuzz(func(t *testing.T, pem, pub, rootKey, admin, script string, shutdown int) {
		o := UserDataOptions{
			HostID:              core.HostID("host-0123456789abcdef0123456789abcdef"),
			HostKeyPEM:          pem,
			HostKeyPub:          pub,
			RootAuthorizedKey:   rootKey,
			AdminUser:           admin,
			SelfStopScript:      script,
			AutoShutdownSeconds: shutdown % 1000000,
		}
		ud, err := UserData(o)
		if strings.TrimSpace(pem) == "" || strings.TrimSpace(pub) == "" || strings.TrimSpace(rootKey) == "" ||
			strings.ContainsRune(rootKey, 0) || strings.ContainsRune(admin, 0) {
			if err == nil || !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("missing key or NUL byte: err = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		yamlText := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		cc := parseUserData(t, ud)
		if got, want := cc.SSHKeys["ed25519_private"], yamlText(ensureNewline(pem)); got != want {
			t.Fatalf("private host key changed: %q -> %q", want, got)
		}
		if got, want := cc.SSHKeys["ed25519_public"], yamlText(strings.TrimSpace(pub)); got != want {
			t.Fatalf("public host key changed: %q -> %q", want, got)
		}
		if script != "" {
			var content string
			for _, wf := range cc.WriteFiles {
				if wf.Path == SelfStopScriptPath {
					content = wf.Content
				}
			}
			if want := yamlText(ensureNewline(script)); content != want {
				t.Fatalf("self-stop script changed: %q -> %q", want, content)
			}
		}
		if len(cc.Runcmd) == 0 {
			t.Fatal("no runcmd")
		}
		first := cc.Runcmd[0]
		if want := "printf '%s\\n' " + core.ShellQuote(yamlText(strings.TrimSpace(rootKey))) + " >>"; !strings.Contains(first, want) {
			t.Fatalf("root key not shell-quoted: want %q in %q", want, first)
		}
		if admin != "" {
			if want := "for u in " + core.ShellQuote(yamlText(admin)) + " "; !strings.Contains(first, want) {
				t.Fatalf("admin user not shell-quoted: want %q in %q", want, first)
			}
		}
		script2 := strings.Join(cc.Runcmd, "\n")
		if strings.ContainsRune(script2, 0) {
			// A shell script cannot hold NUL; YAML carries it escaped but
			// no shell would run it, so UserData must not emit it.
			t.Fatalf("runcmd holds a NUL byte: %q", first)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-n")
		cmd.Stdin = strings.NewReader(script2)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("runcmd is not valid sh: %v: %s\n%s", err, stderr.String(), script2)
		}
	})
}
