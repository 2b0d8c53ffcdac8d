package core

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMergeClaudeState(t *testing.T) {
	const wd, key = "/w", "abcdefghij0123456789"
	tests := []struct {
		name     string
		content  string
		key      string
		firstRun bool
		carried  map[string]json.RawMessage
		want     map[string]any
		changed  bool
	}{
		{name: "new file with a key", key: key, changed: true, want: map[string]any{
			"hasCompletedOnboarding": true, "hasAcknowledgedCostThreshold": true, "effortCalloutDismissed": true,
			"projects":              map[string]any{wd: map[string]any{"hasTrustDialogAccepted": true}},
			"customApiKeyResponses": map[string]any{"approved": []any{key}, "rejected": []any{}},
		}},
		{name: "a user's file keeps every other key", key: key, changed: true,
			content: `{"hasCompletedOnboarding":true,"oauthAccount":{"x":1},"projects":{"/other":{"allowedTools":["a"]}},"customApiKeyResponses":{"approved":["old"],"rejected":["` + key + `"]}}`,
			want: map[string]any{
				"hasCompletedOnboarding": true, "oauthAccount": map[string]any{"x": float64(1)},
				"projects":              map[string]any{"/other": map[string]any{"allowedTools": []any{"a"}}, wd: map[string]any{"hasTrustDialogAccepted": true}},
				"customApiKeyResponses": map[string]any{"approved": []any{"old", key}, "rejected": []any{}},
			}},
		{name: "a logged-in user without a key: only the trust", changed: true,
			content: `{"hasCompletedOnboarding":true,"theme":"dark"}`,
			want:    map[string]any{"hasCompletedOnboarding": true, "theme": "dark", "projects": map[string]any{wd: map[string]any{"hasTrustDialogAccepted": true}}}},
		{name: "nothing to do", key: key,
			content: `{"hasCompletedOnboarding":true,"projects":{"/w":{"hasTrustDialogAccepted":true}},"customApiKeyResponses":{"approved":["` + key + `"]}}`,
			want: map[string]any{"hasCompletedOnboarding": true, "projects": map[string]any{wd: map[string]any{"hasTrustDialogAccepted": true}},
				"customApiKeyResponses": map[string]any{"approved": []any{key}}}},
		{name: "per-agent dir: first run done, the carried keys", firstRun: true, changed: true,
			carried: map[string]json.RawMessage{"theme": json.RawMessage(`"light"`)},
			want: map[string]any{"theme": "light", "hasCompletedOnboarding": true, "hasAcknowledgedCostThreshold": true, "effortCalloutDismissed": true,
				"projects": map[string]any{wd: map[string]any{"hasTrustDialogAccepted": true}}}},
	}
	for _, tt := range tests {
		out, changed, err := mergeClaudeState([]byte(tt.content), wd, tt.key, tt.firstRun, tt.carried)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", tt.name, err, out)
		}
		if d := cmp.Diff(tt.want, got); d != "" || changed != tt.changed {
			t.Errorf("%s: changed %v (-want +got)\n%s", tt.name, changed, d)
		}
	}
	if _, _, err := mergeClaudeState([]byte(`{"projects": [`), wd, key, false, nil); err == nil {
		t.Error("a corrupt file was merged instead of refused")
	}
}

// TestClaudeStateWriteIsChecked: the replace of .claude.json refuses when
// the file changed after it was read (claude writes it too), and a write
// keeps it valid JSON, 0600.
func TestClaudeStateWriteIsChecked(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	dir := t.TempDir()
	f := filepath.Join(dir, ".claude.json")
	if err := os.WriteFile(f, []byte(`{"a":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(cksum, content string) RunResult {
		res, err := h.Exec.Run(ctx, ScriptCall(agentConfigSh, "claude-write", f, cksum, filepath.Join(dir, "lock")), RunOptions{Stdin: strings.NewReader(content)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := write("1 2", `{"b":2}`); res.ExitCode != exitConfigChanged {
		t.Errorf("a stale read was written: %+v", res)
	}
	sum := strings.TrimSpace(runOK(t, h, "cksum < "+ShellQuote(f)))
	if res := write(sum, `{"b":2}`); !res.OK() {
		t.Fatalf("write: %+v", res)
	}
	b, _ := os.ReadFile(f)
	st, _ := os.Stat(f)
	if string(b) != `{"b":2}` || st.Mode().Perm() != 0o600 {
		t.Errorf("after the write: %q %v", b, st.Mode())
	}
	if res := write("-", `{"c":3}`); res.ExitCode != exitConfigChanged {
		t.Errorf("a write for a missing file replaced an existing one: %+v", res)
	}
}

// TestCodexConfigTakesBaseURL: the agent's OPENAI_BASE_URL becomes
// openai_base_url in its codex config (codex ignores the variable),
// replacing a top-level one but not a profile's; a value that cannot be a
// plain URL is refused with a warning and changes nothing.
func TestCodexConfigTakesBaseURL(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	dir := t.TempDir()
	ch := filepath.Join(dir, "codex-home")
	if err := os.MkdirAll(ch, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(ch, "config.toml")
	if err := os.WriteFile(cfg, []byte("openai_base_url = \"http://before\"\n\n[profiles.p]\nopenai_base_url = \"http://profile\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(url string) RunResult {
		t.Helper()
		script := "CODEX_HOME=" + ShellQuote(ch) + " OPENAI_BASE_URL=" + ShellQuote(url) + "; export CODEX_HOME OPENAI_BASE_URL\n" +
			ScriptCall(agentConfigSh, "codex", dir, "0")
		res, err := h.Exec.Run(ctx, script, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := run("http://127.0.0.1:4000/v1"); !res.OK() {
		t.Fatalf("codex config: %+v", res)
	}
	b, _ := os.ReadFile(cfg)
	got := string(b)
	if !strings.HasPrefix(got, "openai_base_url = \"http://127.0.0.1:4000/v1\"\n") || strings.Contains(got, "http://before") ||
		!strings.Contains(got, "openai_base_url = \"http://profile\"") || strings.Count(got, "openai_base_url") != 2 {
		t.Errorf("config.toml:\n%s", got)
	}
	res := run("http://x\"\n[evil]")
	if !res.OK() || !strings.Contains(res.Stderr, "OPENAI_BASE_URL") {
		t.Errorf("a quote in the URL: %+v", res)
	}
	if b2, _ := os.ReadFile(cfg); string(b2) != got {
		t.Errorf("a refused URL changed the config:\n%s", b2)
	}
}
