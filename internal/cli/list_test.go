package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestListEmpty(t *testing.T) {
	te := newTestEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"list"}, "No agents found\n"},
		{[]string{"ls", "--format", "json"}, `{"agents":[],"orphan_hosts":[],"errors":[]}` + "\n"},
		{[]string{"list", "--format", "jsonl"}, ""},
	}
	for _, tt := range tests {
		if got := te.mustRun(tt.args...); got != tt.want {
			t.Errorf("mngr %v = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestListAgentsOnlineAndOffline(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "loc", "command", "--label", "project=p1", "--", "sleep", "60")
	te.mustRun("create", "cl", "command", "--provider", "fakecloud", "--", "sleep", "60")
	waitAgentState(t, te, "loc", "WAITING")
	waitAgentState(t, te, "cl", "WAITING")
	var res struct {
		Agents []map[string]any `json:"agents"`
		Errors []any            `json:"errors"`
	}
	te.mustRun("list", "--format", "json")
	te.jsonOut(&res)
	got := map[string]string{}
	for _, a := range res.Agents {
		h := a["host"].(map[string]any)
		got[a["name"].(string)] = fmt.Sprintf("%s %s %s", a["state"], h["provider_name"], h["state"])
		for _, k := range []string{"resource_type", "id", "type", "command", "work_dir", "create_time", "labels", "start_time", "idle_seconds", "plugin"} {
			if _, ok := a[k]; !ok {
				t.Errorf("agent %s lacks field %q", a["name"], k)
			}
		}
	}
	want := map[string]string{"loc": "WAITING local RUNNING", "cl": "WAITING fakecloud RUNNING"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// An offline host lists its persisted agents as STOPPED.
	for id := range te.cloud.hosts {
		te.cloud.hosts[id].running = false
		te.cloud.hosts[id].dh.StateHint = "deallocate it with mngr stop"
	}
	out := te.mustRun("list")
	if !strings.Contains(out, "cl") || !strings.Contains(out, "STOPPED") || !strings.Contains(out, "deallocate it with mngr stop") {
		t.Errorf("human list = %q", out)
	}
	if !strings.Contains(out, "p1") || !strings.HasPrefix(out, "NAME  ") {
		t.Errorf("human list header/project = %q", out)
	}
}

func TestListProviderErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   ExitCode
		wantStderr string
		wantErrs   int
	}{
		{"unavailable is a warning", core.WithHint(fmt.Errorf("no subscription: %w", core.ErrUnavailable), "run mngr fakecloud prepare"), 0, "run mngr fakecloud prepare", 0},
		{"other error fails", errors.New("boom"), 1, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEnv(t)
			te.cloud.listErr = tt.err
			code := te.run("list", "--format", "json")
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d", code, tt.wantCode)
			}
			var res struct {
				Errors []map[string]any `json:"errors"`
			}
			te.jsonOut(&res)
			if len(res.Errors) != tt.wantErrs {
				t.Errorf("errors = %v", res.Errors)
			}
			if !strings.Contains(te.errOut.String(), tt.wantStderr) {
				t.Errorf("stderr = %q, want %q", te.errOut, tt.wantStderr)
			}
		})
	}
}

func TestListBadProviderBlockFailsWhole(t *testing.T) {
	te := newTestEnv(t)
	te.f.global.settings = nil
	code := te.run("list", "-S", "providers.local.hostdir=x")
	if code != ExitUsage || te.out.Len() != 0 || !strings.Contains(te.errOut.String(), `unknown key providers.local.hostdir in -S`) {
		t.Errorf("code=%d out=%q err=%q", code, te.out, te.errOut)
	}
}

// A default instance nobody configured that cannot be built (no
// credentials) is skipped without a word; a configured one is warned about.
func TestListSkipsUnconfiguredUnavailableProviderQuietly(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.reg.Register(core.Backend{Name: "nocreds", DefaultInstance: true, New: func(context.Context, string, core.Settings, core.Env) (core.Provider, error) {
		return nil, fmt.Errorf("no credentials: %w", core.ErrUnavailable)
	}})
	te.mustRun("list")
	if strings.Contains(te.errOut.String(), "nocreds") {
		t.Errorf("unconfigured provider warned about:\n%s", te.errOut)
	}
	dir := filepath.Join(te.env["HOME"], ".mngr")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.toml"), []byte("[providers.mine]\nbackend = \"nocreds\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	te.mustRun("list")
	if !strings.Contains(te.errOut.String(), `provider "mine" is not available`) {
		t.Errorf("configured provider not warned about:\n%s", te.errOut)
	}
}

// A configured provider whose settings point at a subscription or resource
// group that does not exist fails list (exit 1, the hint shown) and never
// reads "No agents found"; the same default instance nobody configured is
// skipped, as a cloud the user does not use.
func TestListMissingScopeIsAnError(t *testing.T) {
	scopeErr := core.WithHint(fmt.Errorf("list vms: resource group %q does not exist: %w", "mngr", core.ErrInvalidInput), "make it with `mngr azure prepare`")
	for _, configured := range []bool{true, false} {
		t.Run(fmt.Sprintf("configured %v", configured), func(t *testing.T) {
			requireTmux(t)
			te := newTestEnv(t)
			te.cloud.listErr = scopeErr
			if configured {
				dir := filepath.Join(te.env["HOME"], ".mngr")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "settings.toml"), []byte("[providers.fakecloud]\nbackend = \"fakecloud\"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code := te.run("list")
			switch {
			case configured && (code != ExitError || strings.Contains(te.out.String(), "No agents found") || !strings.Contains(te.errOut.String(), "mngr azure prepare")):
				t.Errorf("configured: exit %d stdout %q stderr %q", code, te.out, te.errOut)
			case !configured && (code != 0 || te.out.String() != "No agents found\n"):
				t.Errorf("unconfigured: exit %d stdout %q stderr %q", code, te.out, te.errOut)
			}
			// Other commands say it too, with the same next step.
			if code := te.run("stop", "some-agent"); configured && (code == 0 || !strings.Contains(te.errOut.String(), "mngr azure prepare")) {
				t.Errorf("stop with a missing scope: exit %d stderr %q", code, te.errOut)
			}
		})
	}
}

// Read-only commands create nothing: not the host dir they are pointed at,
// not ~/.mngr.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	te := newTestEnv(t)
	missing := filepath.Join(te.env["HOME"], "none", "dir")
	for _, args := range [][]string{
		{"list"}, {"list", "--format", "json"}, {"config", "list"}, {"config", "get", "prefix"},
		{"capture", "nosuch"}, {"ssh-config"}, {"gc", "--dry-run"},
	} {
		te.run(append(args, "-S", "providers.local.host_dir="+missing)...)
		te.run(args...)
	}
	for _, p := range []string{filepath.Join(te.env["HOME"], "none"), te.env["MNGR_HOST_DIR"]} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after read-only commands (stat: %v)", p, err)
		}
	}
}

// Without tmux on the host, list warns that its agents cannot be seen
// running instead of only showing them STOPPED.
func TestListWarnsWithoutTmux(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "demo", "command", "--", "sleep", "60")
	bin := t.TempDir()
	for _, tool := range []string{"sh", "cat", "stat", "ps"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	te.mustRun("list")
	if !strings.Contains(te.errOut.String(), "tmux is not installed, so no agent there can be seen running") {
		t.Errorf("stderr = %q, want a warning that tmux is missing", te.errOut)
	}
}
