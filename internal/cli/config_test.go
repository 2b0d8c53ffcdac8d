package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCommands(t *testing.T) {
	te := newTestEnv(t)
	repo := t.TempDir()
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o750); err != nil {
		t.Fatal(err)
	}
	run := func(action string, args []string, scope string) (string, error) {
		te.reset()
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
	if _, err := run("get", []string{"commands.nope"}, ""); err == nil || !strings.Contains(err.Error(), "key not found: commands.nope") {
		t.Errorf("get missing: %v", err)
	}
	out, _ = run("list", nil, "")
	if !strings.Contains(out, "commands.create.type = command\n") || !strings.Contains(out, "prefix = mngrclitest-") {
		t.Errorf("list: %q", out)
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
