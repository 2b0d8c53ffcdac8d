package vps

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/scripttest"
)

// TestScriptsParse checks every embedded script with sh -n and bash -n.
func TestScriptsParse(t *testing.T) {
	got := scripttest.CheckSyntax(t, os.DirFS("scripts"))
	want := []string{"cloud_init_probe.sh", "cloudinit_base_packages.sh", "cloudinit_docker.sh", "container_run.sh", "container_ssh.sh",
		"docker_apt_key.sh", "idle_stop.sh", "idle_watcher.sh", "scrub_user_data.sh"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("scripts (-want +got)\n%s", d)
	}
	// The idle watcher touches the sentinel the VM's path unit watches.
	if !strings.Contains(IdleWatcherScript, `"$dir/`+SentinelRelPath+`"`) {
		t.Errorf("idle_watcher.sh does not touch HOST_DIR/%s", SentinelRelPath)
	}
}

// TestIdleStopScript runs idle_stop.sh with a stand-in self-stop script and
// logger: it removes the sentinel, logs the self-stop's outcome and exits 0
// either way.
func TestIdleStopScript(t *testing.T) {
	tests := []struct {
		name, selfStop, wantLog string
	}{
		{"accepted", "exit 0", "-t mngr-idle self-stop requested"},
		{"refused", "exit 3", "-t mngr-idle self-stop refused or failed (exit 3); the VM keeps running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			sentinel, selfStop, logFile := filepath.Join(dir, "sentinel"), filepath.Join(dir, "self-stop"), filepath.Join(dir, "log")
			for path, body := range map[string]string{
				sentinel:                     "",
				selfStop:                     "#!/bin/sh\n" + tt.selfStop + "\n",
				filepath.Join(dir, "logger"): "#!/bin/sh\necho \"$*\" >> " + core.ShellQuote(logFile) + "\n",
			} {
				if err := os.WriteFile(path, []byte(body), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "idle-stop")
			if err := os.WriteFile(path, []byte(core.ScriptCall(idleStopSh, sentinel, selfStop)), 0o700); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), path)
			cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("idle stop: %v: %s", err, out)
			}
			if _, err := os.Stat(sentinel); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("sentinel remains (%v)", err)
			}
			if b, _ := os.ReadFile(logFile); strings.TrimSpace(string(b)) != tt.wantLog {
				t.Errorf("logged %q, want %q", b, tt.wantLog)
			}
		})
	}
}
