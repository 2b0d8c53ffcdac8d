package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// shExecutor runs scripts with the local sh, like the local provider does,
// so the agent scripts are tested for real without importing a provider.
type shExecutor struct{}

func (shExecutor) Run(ctx context.Context, script string, opts RunOptions) (RunResult, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Stdin = opts.Stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := RunResult{Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, nil
	}
	return res, err
}

func (shExecutor) InteractiveArgv(script string) []string { return []string{"sh", "-c", script} }

func testHost(t *testing.T) *Host {
	t.Helper()
	return &Host{
		DiscoveredHost: DiscoveredHost{ID: NewHostID(), Name: "test"},
		HostDir:        filepath.Join(t.TempDir(), "host dir 'x'"),
		Exec:           shExecutor{},
	}
}

func runOK(t *testing.T, h *Host, script string) string {
	t.Helper()
	res, err := h.Exec.Run(context.Background(), script, RunOptions{})
	if err != nil || !res.OK() {
		t.Fatalf("run %q: %v %+v", script, err, res)
	}
	return res.Stdout
}

func TestCreateAgentWritesState(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	tricky := "it's \"$HOME\" `id` \\ \n next line"
	rec, err := CreateAgent(ctx, h, "t-", AgentSpec{
		Name: "demo", Type: "command", Command: "sleep 600",
		Env:    []string{"A=1", "TRICKY=" + tricky, "EMPTY="},
		Labels: map[string]string{"team": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sd := filepath.Join(h.HostDir, "agents", string(rec.ID))
	raw, err := os.ReadFile(filepath.Join(sd, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk AgentRecord
	if err := json.Unmarshal(raw, &onDisk); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(rec, onDisk); d != "" {
		t.Errorf("data.json differs from the returned record (-want +got)\n%s", d)
	}
	wantRec := AgentRecord{
		ID: rec.ID, Name: "demo", Type: "command", WorkDir: filepath.Join(h.HostDir, "work", string(rec.ID)),
		CreateTime: rec.CreateTime, Command: "sleep 600", AdditionalCommands: []WindowCommand{},
		ReadyTimeoutSeconds: 10, Labels: map[string]string{"team": "x"}, Tmux: TmuxSize{Width: 200, Height: 50},
	}
	if d := cmp.Diff(wantRec, rec); d != "" {
		t.Errorf("record (-want +got)\n%s", d)
	}
	for _, p := range []string{rec.WorkDir, filepath.Join(sd, "activity", "create"), filepath.Join(h.HostDir, "tmux.conf"),
		filepath.Join(h.HostDir, "activity"), filepath.Join(h.HostDir, "signals"), filepath.Join(h.HostDir, "logs")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("layout: %v", err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(sd, "*.tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
	// The env file, sourced as the agent's shell does, gives back every value exactly.
	env := runOK(t, h, envPrefix(h, rec.ID)+`; printf '%s\0' "$MNGR_HOST_DIR" "$MNGR_AGENT_ID" "$MNGR_AGENT_NAME" "$MNGR_AGENT_STATE_DIR" "$MNGR_AGENT_WORK_DIR" "$A" "$TRICKY" "${EMPTY-unset}"`)
	want := []string{h.HostDir, string(rec.ID), "demo", sd, rec.WorkDir, "1", tricky, ""}
	if d := cmp.Diff(want, strings.Split(strings.TrimSuffix(env, "\x00"), "\x00")); d != "" {
		t.Errorf("env values (-want +got)\n%s", d)
	}
	envText, err := os.ReadFile(filepath.Join(sd, "env"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(string(envText), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && envKeyRe().MatchString(k) {
			keys = append(keys, k)
		}
	}
	wantKeys := []string{"MNGR_HOST_DIR", "MNGR_AGENT_ID", "MNGR_AGENT_NAME", "MNGR_AGENT_STATE_DIR", "MNGR_AGENT_WORK_DIR", "A", "TRICKY", "EMPTY"}
	if d := cmp.Diff(wantKeys, keys); d != "" {
		t.Errorf("env file key order (-want +got)\n%s", d)
	}

	// Listed (no tmux session): STOPPED.
	sts, err := ListAgents(ctx, h, "t-")
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].State != AgentStopped || sts[0].Record.ID != rec.ID || sts[0].HostID != h.ID {
		t.Fatalf("list: %+v", sts)
	}

	// exec runs in the work dir with the env.
	out := runOK(t, h, ExecScript(h, rec, `pwd; echo "$MNGR_AGENT_NAME"`))
	if want := rec.WorkDir + "\ndemo\n"; out != want {
		t.Errorf("exec printed %q, want %q", out, want)
	}

	if err := DestroyAgent(ctx, h, "t-", rec); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sd, rec.WorkDir} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s remains after destroy: %v", p, err)
		}
	}
	if sts, err := ListAgents(ctx, h, "t-"); err != nil || len(sts) != 0 {
		t.Errorf("list after destroy: %+v %v", sts, err)
	}
}

func TestCreateAgentRefuses(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	if _, err := CreateAgent(ctx, h, "t-", AgentSpec{Name: "one", Type: "command", Command: "true"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec AgentSpec
		want error
	}{
		{"duplicate name", AgentSpec{Name: "one", Type: "command", Command: "true"}, ErrConflict},
		{"bad name", AgentSpec{Name: "no spaces", Type: "command", Command: "true"}, ErrInvalidInput},
		{"bad env key", AgentSpec{Name: "two", Type: "command", Command: "true", Env: []string{"1X=a"}}, ErrInvalidInput},
		{"env without =", AgentSpec{Name: "two", Type: "command", Command: "true", Env: []string{"X"}}, ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CreateAgent(ctx, h, "t-", tt.spec)
			if !errors.Is(err, tt.want) || HintOf(err) == "" {
				t.Errorf("err = %v (hint %q), want %v with a hint", err, HintOf(err), tt.want)
			}
		})
	}
	sts, err := ListAgents(ctx, h, "t-")
	if err != nil || len(sts) != 1 {
		t.Errorf("refused creates changed the host: %+v %v", sts, err)
	}
}

func TestOfflineHost(t *testing.T) {
	h := &Host{DiscoveredHost: DiscoveredHost{Name: "gone"}}
	if _, err := ListAgents(context.Background(), h, "t-"); !errors.Is(err, ErrHostOffline) {
		t.Errorf("err = %v, want ErrHostOffline", err)
	}
}

func TestStartAgentErrors(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed")
	}
	ctx := context.Background()
	h := testHost(t)
	// PATH in the host env file hides any installed claude from the check.
	if err := os.MkdirAll(h.HostDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.HostDir, "env"), []byte("PATH=/nonexistent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := CreateAgent(ctx, h, "t-", AgentSpec{Name: "c", Type: "claude", Command: "claude"})
	if err != nil {
		t.Fatal(err)
	}
	if err := StartAgent(ctx, h, "mngr-test-nocli-", rec); !errors.Is(err, ErrUnavailable) || !strings.Contains(HintOf(err), "claude") {
		t.Errorf("start without the claude CLI: err = %v (hint %q), want ErrUnavailable naming claude", err, HintOf(err))
	}
	rec.Type, rec.WorkDir = "command", filepath.Join(h.HostDir, "missing")
	if err := StartAgent(ctx, h, "mngr-test-nowd-", rec); !errors.Is(err, ErrNotFound) || HintOf(err) == "" {
		t.Errorf("start with a missing work dir: err = %v, want ErrNotFound with a hint", err)
	}
}

func TestScripts(t *testing.T) {
	h := &Host{HostDir: "/mngr"}
	rec := AgentRecord{ID: "agent-0123456789abcdef0123456789abcdef", Name: "demo", WorkDir: "/work/it's"}
	if got, want := AttachScript(h, "mngr-", rec), "exec tmux attach-session -t =mngr-demo"; got != want {
		t.Errorf("AttachScript = %q, want %q", got, want)
	}
	got := ExecScript(h, rec, "ls")
	if !strings.HasPrefix(got, `cd '/work/it'\''s' || exit 1`+"\n") || !strings.HasSuffix(got, "\nls") {
		t.Errorf("ExecScript = %q", got)
	}
}
