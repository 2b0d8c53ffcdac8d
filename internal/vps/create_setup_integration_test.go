package vps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// TestCreateSetupOnDockerVM runs core.Create with the per-create set-up on
// a real VM container: the outer command runs on the VM, outside the agent
// container; the post-host-create command, the uploads, the host env and
// the extra provision commands inside it. It needs docker and
// MNGR_TEST_VM_IMAGE.
func TestCreateSetupOnDockerVM(t *testing.T) {
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

	local := filepath.Join(t.TempDir(), "token.txt")
	if err := os.WriteFile(local, []byte("uploaded-content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up, err := core.ParseUpload(local + ":conf/token.txt")
	if err != nil {
		t.Fatal(err)
	}
	res, err := core.Create(ctx, core.CreateRequest{
		Provider: p, ProviderName: "dockervm", HostName: "isetup",
		NewHost: core.CreateHostRequest{
			OuterCommands:      []string{"echo on-the-vm > /var/lib/mngr-outer-mark"},
			PostCreateCommands: []string{`echo "inside $REGION" > /root/post-create-mark`},
		},
		HostEnv: []string{"REGION=sim-east"},
		Agent: core.AgentSpec{Name: "s1", Type: "command", Command: "sleep 600",
			Uploads:           []core.FileUpload{up},
			ProvisionCommands: []string{`cat conf/token.txt > provisioned; echo "$REGION" >> provisioned`}},
	})
	if err != nil {
		t.Fatalf("Create: %v (steps %q)", err, prog.steps)
	}
	h := res.Host
	vmName := client.names[h.ID]
	// The outer command ran on the VM itself …
	if out, err := dockerCmd(ctx, "exec", vmName, "cat", "/var/lib/mngr-outer-mark"); err != nil || out != "on-the-vm" {
		t.Errorf("outer mark on the VM = %q, %v", out, err)
	}
	in := func(script string) string {
		t.Helper()
		r, err := h.Exec.Run(ctx, script, core.RunOptions{})
		if err != nil {
			t.Fatalf("run in the container: %v", err)
		}
		return strings.TrimSpace(r.Stdout)
	}
	// … not in the container, where the post-host-create command ran with
	// the host env.
	if got := in("test -e /var/lib/mngr-outer-mark && echo present || echo absent"); got != "absent" {
		t.Errorf("outer mark in the container: %s", got)
	}
	if got := in("cat /root/post-create-mark"); got != "inside sim-east" {
		t.Errorf("post-create mark = %q", got)
	}
	if out, _ := dockerCmd(ctx, "exec", vmName, "sh", "-c", "test -e /root/post-create-mark && echo present || echo absent"); out != "absent" {
		t.Errorf("post-create mark on the VM: %s", out)
	}
	wd := res.Agent.WorkDir
	if got := in("cat " + core.ShellQuote(wd+"/provisioned")); got != "uploaded-content\nsim-east" {
		t.Errorf("provisioned = %q", got)
	}
	if got := in("stat -c %a " + core.ShellQuote(wd+"/conf/token.txt")); got != "600" {
		t.Errorf("upload mode = %q, want 600", got)
	}
	// A second agent on the same host: no post-host-create commands again.
	if _, err := core.Create(ctx, core.CreateRequest{
		Provider: p, ProviderName: "dockervm", HostName: "isetup", HostMustExist: true,
		NewHost: core.CreateHostRequest{OuterCommands: []string{"echo again >> /var/lib/mngr-outer-mark"}},
		Agent:   core.AgentSpec{Name: "s2", Type: "command", Command: "sleep 600"},
	}); err != nil {
		t.Fatalf("second Create: %v", err)
	}
	if out, _ := dockerCmd(ctx, "exec", vmName, "cat", "/var/lib/mngr-outer-mark"); out != "on-the-vm" {
		t.Errorf("outer mark after a create on the existing host = %q", out)
	}
	if err := p.DestroyHost(ctx, h.ID); err != nil {
		t.Fatalf("DestroyHost: %v", err)
	}
}
