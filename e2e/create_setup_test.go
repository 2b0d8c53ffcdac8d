//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateSetupJourneyOnAzsim creates an agent on a simulated Azure VM
// with a template from the settings and the per-create set-up flags: the
// outer command runs on the VM, outside the agent container; the upload,
// the host env and the provision command inside it; the extra window runs
// beside the agent. Then create --reuse keeps the agent, exec --timeout
// stops a command on the VM with exit 124, and destroy leaves no VM.
func TestCreateSetupJourneyOnAzsim(t *testing.T) {
	t.Parallel()
	needDockerJourney(t, "boots a real simulated VM")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")

	settings := filepath.Join(j.envValue("HOME"), ".mngr", "settings.toml")
	f, err := os.OpenFile(settings, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`
[create_templates.prep]
post_host_create_outer_command = ["echo on-the-vm > /var/lib/mngr-outer-mark"]
host_env = ["REGION=sim-east"]
no_connect = true
`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(j.dir, "token.txt")
	if err := os.WriteFile(local, []byte("uploaded-content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(j.dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "bin", "hello"), []byte("#!/bin/sh\necho tree-ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	j.must("create", "prep", "--provider", "azure", "-t", "prep",
		"--upload-file", local+":conf/token.txt", "--upload-file", tree+":/opt/tree",
		"--extra-provision-command", `cat conf/token.txt > provisioned; echo "$REGION" >> provisioned`,
		"-w", "side=sleep 4321")

	out := j.must("exec", "prep", "cat provisioned; test -e /var/lib/mngr-outer-mark && echo outer-visible || echo outer-absent; tmux list-windows -a -F '#{window_name}'; /opt/tree/bin/hello")
	for _, want := range []string{"uploaded-content\nsim-east\n", "outer-absent", "side", "tree-ran"} {
		if !strings.Contains(out, want) {
			t.Errorf("agent container: no %q in\n%s", want, out)
		}
	}
	vms := containersOf(t, j.data)
	if len(vms) != 1 {
		t.Fatalf("VM containers = %v, want one", vms)
	}
	mark, err := exec.CommandContext(context.Background(), "docker", "exec", vms[0], "cat", "/var/lib/mngr-outer-mark").Output()
	if err != nil || strings.TrimSpace(string(mark)) != "on-the-vm" {
		t.Errorf("outer mark on the VM = %q, %v", mark, err)
	}

	if out := j.must("create", "prep", "--provider", "azure", "--reuse", "--no-connect"); !strings.Contains(out, "Kept the existing agent prep") {
		t.Errorf("create --reuse: %s", out)
	}

	_, errOut, err := j.mngr("exec", "prep", "--timeout", "2s", "--", "sleep", "300")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 124 || !strings.Contains(errOut, "ran longer than --timeout 2s") {
		t.Errorf("exec --timeout: %v, stderr %s", err, errOut)
	}
	if out := j.must("exec", "prep", "pgrep -x sleep -a || true"); strings.Contains(out, "sleep 300") {
		t.Errorf("the timed-out command still runs:\n%s", out)
	}

	j.must("destroy", "-f", "prep")
	if n := j.countVMs(); n != 0 {
		t.Errorf("%d VM(s) left after destroy", n)
	}
	if cs := containersOf(t, j.data); len(cs) != 0 {
		t.Errorf("VM containers left after destroy: %v", cs)
	}
}
