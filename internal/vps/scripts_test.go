package vps

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/scripttest"
)

// TestScriptsParse checks every embedded script with sh -n and bash -n.
func TestScriptsParse(t *testing.T) {
	got := scripttest.CheckSyntax(t, os.DirFS("scripts"))
	want := []string{"cloud_init_probe.sh", "container_run.sh", "container_ssh.sh", "idle_watcher.sh"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scripts (-want +got)\n%s", d)
	}
	// The idle watcher touches the sentinel the VM's path unit watches.
	if !strings.Contains(IdleWatcherScript, `"$dir/`+SentinelRelPath+`"`) {
		t.Errorf("idle_watcher.sh does not touch HOST_DIR/%s", SentinelRelPath)
	}
}
