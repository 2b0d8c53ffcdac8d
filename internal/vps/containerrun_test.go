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

// TestContainerRunScriptIsIdempotent runs the container start script with a
// fake docker that logs its calls: with no container it runs one; with this
// host's container (left by a try whose connection dropped) it only starts
// it; with another host's container of the same name it fails and says so.
func TestContainerRunScriptIsIdempotent(t *testing.T) {
	p, err := NewProvider(newFakeClient(""), Config{ProviderName: "fake", LocalHostDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	inst := Instance{HostID: core.HostID("host-0123456789abcdef0123456789abcdef"), HostName: "h1"}
	script := p.containerRunScript(inst, "img:1", core.CreateHostRequest{})
	tests := []struct {
		name string
		// owner is the mngr.host-id label of an existing container named
		// mngr-h1; empty means there is none.
		owner    string
		wantExit int
		wantLog  []string
		wantErr  string
	}{
		{"no container", "", 0, []string{"container inspect", "run"}, ""},
		{"this host's container", string(inst.HostID), 0, []string{"container inspect", "start mngr-h1"}, ""},
		{"another host's container", "host-ffffffffffffffffffffffffffffffff", 1, []string{"container inspect"},
			"container mngr-h1 exists on the VM and belongs to host host-ffffffffffffffffffffffffffffffff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "log")
			fake := `#!/bin/sh
case "$1" in
container) echo "container inspect" >> "$LOG"; [ -n "$OWNER" ] || exit 1; echo "$OWNER" ;;
start) echo "start $2" >> "$LOG" ;;
run) echo "run" >> "$LOG" ;;
*) echo "unexpected docker $*" >> "$LOG"; exit 2 ;;
esac
`
			if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(context.Background(), "sh", "-c", script)
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "LOG="+logPath, "OWNER="+tt.owner)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantExit || strings.TrimSpace(stderr.String()) != tt.wantErr {
				t.Errorf("exit %d, stderr %q; want exit %d, stderr %q", code, stderr.String(), tt.wantExit, tt.wantErr)
			}
			data, _ := os.ReadFile(logPath)
			if d := cmp.Diff(tt.wantLog, strings.Split(strings.TrimSpace(string(data)), "\n")); d != "" {
				t.Errorf("docker calls (-want +got)\n%s", d)
			}
		})
	}
}
