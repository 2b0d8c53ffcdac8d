package core

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHCallsForwardNothing checks that git's and rsync's ssh turn off the
// agent, X11 and port forwardings, and that they win over a user's
// ssh_config that turns them all on for every host (ssh -G prints the
// options ssh would use, without connecting).
func TestSSHCallsForwardNothing(t *testing.T) {
	e := SSHEndpoint{HostName: "203.0.113.9", Port: 2222, User: "root", IdentityFile: "/k/id", KnownHostsFile: "/k/kh"}
	for name, cmd := range map[string]string{"GIT_SSH_COMMAND": e.GitSSHCommand(), "rsync -e": e.RsyncShell()} {
		for _, want := range []string{"-o ForwardAgent=no", "-o ForwardX11=no", "-o ClearAllForwardings=yes"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("%s %q lacks %q", name, cmd, want)
			}
		}
	}
	_, env := gitRemote(&e, "/w")
	if len(env) == 0 || !strings.Contains(env[0], "ForwardAgent=no") {
		t.Errorf("git env = %v", env)
	}
	if args := rsyncTransport(&e, false); len(args) != 3 || !strings.Contains(args[2], "ClearAllForwardings=yes") {
		t.Errorf("rsync transport = %v", args)
	}

	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(cfg, []byte("Host *\n    ForwardAgent yes\n    ForwardX11 yes\n    RemoteForward 9999 127.0.0.1:22\n    DynamicForward 1080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append(e.sshArgs(true)[1:], "-G", "-F", cfg, e.HostName)
	out, err := exec.CommandContext(context.Background(), "ssh", argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"\nforwardagent no\n", "\nforwardx11 no\n", "\nclearallforwardings yes\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("ssh -G lacks %q", strings.TrimSpace(want))
		}
	}
	for _, bad := range []string{"remoteforward", "dynamicforward"} {
		if strings.Contains(got, bad) {
			t.Errorf("ssh -G still has a %s", bad)
		}
	}
}
