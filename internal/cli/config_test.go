package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

func TestConfigCommands(t *testing.T) {
	te := newTestEnv(t)
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o750); err != nil {
		t.Fatal(err)
	}
	run := func(action string, args []string, scope string) (string, error) {
		te.reset()
		NewRootCmd(te.f) // fills the flags [commands.VERB] may set
		opts := &configOptions{f: te.f, Action: action, Scope: scope, workDir: repo, getenv: func(k string) string { return te.env[k] }}
		if len(args) > 0 {
			opts.Key = args[0]
		}
		if len(args) > 1 {
			opts.Value = args[1]
		}
		err := runConfig(opts)
		return te.out.String(), err
	}
	userFile := filepath.Join(te.env["HOME"], ".mngr", "settings.toml")
	out, err := run("set", []string{"commands.create.type", "command"}, "user")
	if err != nil || out != "Set commands.create.type = command in user ("+userFile+")\n" {
		t.Fatalf("set: %q %v", out, err)
	}
	out, err = run("get", []string{"commands.create.type"}, "")
	if err != nil || out != "command\n" {
		t.Errorf("get: %q %v", out, err)
	}
	if _, err := run("get", []string{"commands.nope"}, ""); !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), `no setting named "commands.nope"`) || core.HintOf(err) == "" {
		t.Errorf("get missing: %v", err)
	}
	out, _ = run("list", nil, "")
	for _, re := range []string{`(?m)^KEY +VALUE +SOURCE$`, `(?m)^commands\.create\.type +command +user$`, `(?m)^prefix +mngrclitest-\S+ +env \(MNGR_PREFIX\)$`, `(?m)^agent_ready_timeout +10 +default$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("list lacks %s:\n%s", re, out)
		}
	}
	projectFile := filepath.Join(repo, ".mngr", "settings.toml")
	if out, err := run("set", []string{"retry.connect_retry_times", "5"}, ""); err != nil || !strings.Contains(out, projectFile) {
		t.Errorf("set project: %q %v", out, err)
	}
	if _, err := run("set", []string{"bogus", "1"}, "local"); err == nil {
		t.Error("set bogus key: want error")
	}
	if _, err := os.Stat(filepath.Join(repo, ".mngr", "settings.local.toml")); !os.IsNotExist(err) {
		t.Errorf("a refused set wrote the local file: %v", err)
	}
	if _, err := run("unset", []string{"commands.create.type"}, "user"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("unset", []string{"commands.create.type"}, "user"); err == nil {
		t.Error("second unset: want error")
	}
	out, _ = run("path", nil, "")
	if !strings.Contains(out, "user: "+userFile) || !strings.Contains(out, "project: "+projectFile) {
		t.Errorf("path: %q", out)
	}
}

func TestConfigSubcommandArgs(t *testing.T) {
	te := newTestEnv(t)
	var got *configOptions
	cmd := newCmdConfigWith(te.f, func(o *configOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"set", "prefix", "x-", "--scope", "user"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Action != "set" || got.Key != "prefix" || got.Value != "x-" || got.Scope != "user" {
		t.Errorf("options = %+v", got)
	}
}

// TestConfigGetEffective: get shows defaults and where each value came
// from; a known key with no value is not an error; only a key outside the
// schema is.
func TestConfigGetEffective(t *testing.T) {
	te := newTestEnv(t)
	get := func(key string, format Format) (string, error) {
		te.reset()
		NewRootCmd(te.f)
		te.f.global.format = string(format)
		opts := &configOptions{f: te.f, Action: "get", Key: key, workDir: te.cwd, getenv: func(k string) string { return te.env[k] }}
		err := runConfig(opts)
		return te.out.String(), err
	}
	tests := []struct {
		key        string
		wantHuman  string
		wantSource string
		wantErr    bool
	}{
		{key: "agent_ready_timeout", wantHuman: "10\n", wantSource: "default"},
		{key: "retry.connect_retry_times", wantHuman: "3\n", wantSource: "default"},
		{key: "retry.connect_retry_delay", wantHuman: "5s\n", wantSource: "default"},
		{key: "is_nested_tmux_allowed", wantHuman: "false\n", wantSource: "default"},
		{key: "commands.create.type", wantHuman: "", wantSource: "unset"},
		{key: "connect_command", wantHuman: "", wantSource: "unset"},
		{key: "commands.create.nosuchflag", wantErr: true},
		{key: "commands.nosuchverb.type", wantErr: true},
		{key: "agent_ready_timeoutt", wantErr: true},
		{key: "retry.nope", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			out, err := get(tt.key, FormatHuman)
			if tt.wantErr {
				if !errors.Is(err, core.ErrInvalidInput) || core.HintOf(err) == "" {
					t.Errorf("err = %v, want invalid input with a hint", err)
				}
				return
			}
			if err != nil || out != tt.wantHuman {
				t.Fatalf("human: %q %v, want %q", out, err, tt.wantHuman)
			}
			out, err = get(tt.key, FormatJSON)
			var res struct {
				Key    string `json:"key"`
				Source string `json:"source"`
			}
			if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Key != tt.key || res.Source != tt.wantSource {
				t.Errorf("json: %q %v, want source %q", out, err, tt.wantSource)
			}
		})
	}
}

// TestConfigSetRefusesBadValues: a value of the wrong type or range is
// refused before anything is written, naming the key and the file.
func TestConfigSetRefusesBadValues(t *testing.T) {
	te := newTestEnv(t)
	userFile := filepath.Join(te.env["HOME"], ".mngr", "settings.toml")
	set := func(key, value string) error {
		te.reset()
		NewRootCmd(te.f)
		opts := &configOptions{f: te.f, Action: "set", Key: key, Value: value, Scope: "user", workDir: te.cwd, getenv: func(k string) string { return te.env[k] }}
		return runConfig(opts)
	}
	tests := []struct{ key, value, want string }{
		{"agent_ready_timeout", "abc", `agent_ready_timeout in ` + userFile + `: want a number of seconds more than 0 and at most 86400, got "abc"`},
		{"agent_ready_timeout", "0", "got 0"},
		{"headless", "maybe", `headless in ` + userFile + `: want true or false, got "maybe"`},
		{"enabled_backends", "local", `enabled_backends in ` + userFile + `: want a list of strings`},
		{"retry.connect_retry_times", "-1", "want a whole number from 0 to 100, got -1"},
		{"retry.connect_retry_delay", "soon", `want a duration such as "5s"`},
		{"commands.create.typo", "x", "unknown key commands.create.typo in " + userFile},
		{"commands.crate.type", "x", `unknown command "crate"`},
		{"agent_types.a.cli_args", "x", "agent_types.a.cli_args in " + userFile + ": want a list of strings"},
		{"providers.-x.backend", "azure", `invalid provider name "-x"`},
		{"providers.azure.is_enabled", "sometimes", "providers.azure.is_enabled in " + userFile + ": want true or false"},
		{"providers.local.hostdir", "/tmp/x", "unknown key providers.local.hostdir in " + userFile + ": valid keys are host_dir"},
		{"providers.mine.backend", "nosuch", `providers.mine.backend in ` + userFile + `: unknown backend "nosuch"`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			err := set(tt.key, tt.value)
			if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want invalid input containing %q", err, tt.want)
			}
			if _, statErr := os.Stat(userFile); !os.IsNotExist(statErr) {
				t.Errorf("a refused set wrote %s", userFile)
			}
		})
	}
	// Good values land; a string setting keeps number-like text as text.
	for _, kv := range [][2]string{{"prefix", "42"}, {"agent_ready_timeout", "30"}, {"commands.create.transfer", "none"}, {"enabled_backends", `["local"]`}} {
		if err := set(kv[0], kv[1]); err != nil {
			t.Errorf("set %s %s: %v", kv[0], kv[1], err)
		}
	}
	data, err := os.ReadFile(userFile)
	if err != nil || !strings.Contains(string(data), "prefix = '42'") || !strings.Contains(string(data), "agent_ready_timeout = 30") {
		t.Errorf("user file: %q %v", data, err)
	}
}
