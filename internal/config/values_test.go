package config

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/provider/azure"
	"github.com/mngr-azure/mngr/internal/provider/local"
)

// goTypeName matches what a Go decoder says about its types ("struct
// field", "of type int32", "azure.Config", "[]interface {}", "float64"):
// none of it may reach the user.
var goTypeName = regexp.MustCompile(`struct field|of type|\.Config|interface \{\}|map\[|\b(int32|int64|float64|bool|string) (type|value)|\bfloat64\b|\bint64\b`)

// testFlags stands in for the command tree the cli passes.
var testFlags = CommandFlags{
	"create":  {"type": "string", "transfer": "string", "connect": "bool", "build-arg": "stringArray", "tmux-width": "int"},
	"destroy": {"remove-created-branch": "bool"},
}

// TestBadValues: every bad value is refused where its layer is read, and
// the message names the key and the file (or the variable, or -S), says
// what was wanted in mngr's words and carries a hint.
func TestBadValues(t *testing.T) {
	const (
		user    = "USER"
		project = "PROJECT"
		local   = "LOCAL"
	)
	tests := []struct {
		name      string
		layer     string // user, project or local file; "" for env or -S
		file      string
		env       map[string]string
		overrides []string
		want      string // with USER/PROJECT/LOCAL for the file paths
	}{
		{name: "prefix number", layer: user, file: "prefix = 42\n", want: "prefix in USER: want a string, got 42"},
		{name: "host dir bool", layer: project, file: "default_host_dir = true\n", want: "default_host_dir in PROJECT: want a string, got true"},
		{name: "enabled_backends string", layer: user, file: "enabled_backends = \"local\"\n", want: `enabled_backends in USER: want a list of strings, like ["a", "b"], got "local"`},
		{name: "enabled_backends numbers", layer: local, file: "enabled_backends = [1]\n", want: "enabled_backends in LOCAL: want a list of strings, like [\"a\", \"b\"], got [1]"},
		{name: "nested tmux string", layer: user, file: "is_nested_tmux_allowed = \"yes\"\n", want: `is_nested_tmux_allowed in USER: want true or false, got "yes"`},
		{name: "headless -S", overrides: []string{"headless=maybe"}, want: `headless in -S: want true or false, got "maybe"`},
		{name: "headless env", env: map[string]string{"MNGR__HEADLESS": "maybe"}, want: `headless in environment variable MNGR__HEADLESS: want true or false, got "maybe"`},
		{name: "ready timeout text", layer: user, file: "agent_ready_timeout = \"abc\"\n", want: `agent_ready_timeout in USER: want a number of seconds more than 0 and at most 86400, got "abc"`},
		{name: "ready timeout negative env", env: map[string]string{"MNGR__AGENT_READY_TIMEOUT": "-3"}, want: "agent_ready_timeout in environment variable MNGR__AGENT_READY_TIMEOUT: want a number of seconds more than 0 and at most 86400, got -3"},
		{name: "persisted seconds text", layer: user, file: "default_destroyed_host_persisted_seconds = \"1h\"\n", want: `default_destroyed_host_persisted_seconds in USER: want a number of seconds from 0 to 2147483647, got "1h"`},
		{name: "connect_command list", layer: project, file: "connect_command = [\"a\"]\n", want: `connect_command in PROJECT: want a string, got ["a"]`},
		{name: "unset_vars string", layer: user, file: "unset_vars = \"HISTFILE\"\n", want: `unset_vars in USER: want a list of strings`},
		{name: "retry not a table", layer: user, file: "retry = 3\n", want: "retry in USER must be a table, got 3"},
		{name: "retry times text", layer: user, file: "[retry]\nconnect_retry_times = \"many\"\n", want: `retry.connect_retry_times in USER: want a whole number from 0 to 100, got "many"`},
		{name: "retry times fraction", layer: project, file: "[retry]\nconnect_retry_times = 2.5\n", want: "retry.connect_retry_times in PROJECT: want a whole number from 0 to 100, got 2.5"},
		{name: "retry delay too long -S", overrides: []string{"retry.connect_retry_delay=2h"}, want: `retry.connect_retry_delay in -S: want a duration such as "5s" (or a number of seconds) from 0 to 1h, got "2h"`},
		{name: "retry unknown key", layer: user, file: "[retry]\nconnect_retry_time = 3\n", want: "unknown key retry.connect_retry_time in USER: valid keys are connect_retry_delay, connect_retry_times"},
		{name: "create type number", layer: user, file: "[commands.create]\ntype = 5\n", want: "commands.create.type in USER: want a string, got 5"},
		{name: "create connect string", layer: project, file: "[commands.create]\nconnect = \"no\"\n", want: `commands.create.connect in PROJECT: want true or false, got "no"`},
		{name: "create build_arg string", layer: user, file: "[commands.create]\nbuild_arg = \"X=1\"\n", want: `commands.create.build_arg in USER: want a list of strings`},
		{name: "create tmux width text", layer: local, file: "[commands.create]\ntmux_width = \"wide\"\n", want: `commands.create.tmux_width in LOCAL: want a whole number, got "wide"`},
		{name: "create unknown flag", layer: user, file: "[commands.create]\ntpye = \"claude\"\n", want: "unknown key commands.create.tpye in USER"},
		{name: "unknown verb", layer: project, file: "[commands.crate]\ntype = \"claude\"\n", want: `unknown command "crate" in [commands.crate] in PROJECT`},
		{name: "unknown flag env", env: map[string]string{"MNGR__COMMANDS__DESTROY__FORCE": "true"}, want: "unknown key commands.destroy.force in environment variable MNGR__COMMANDS__DESTROY__FORCE"},
		{name: "commands verb not a table", layer: user, file: "[commands]\ncreate = \"claude\"\n", want: `commands.create in USER must be a table, got "claude"`},
		{name: "agent type command number", layer: user, file: "[agent_types.a]\ncommand = 5\n", want: "agent_types.a.command in USER: want a string, got 5"},
		{name: "agent type cli_args string", layer: project, file: "[agent_types.a]\ncli_args = \"--x\"\n", want: `agent_types.a.cli_args in PROJECT: want a list of strings`},
		{name: "provider is_enabled string", layer: user, file: "[providers.azure]\nis_enabled = \"no\"\n", want: `providers.azure.is_enabled in USER: want true or false, got "no"`},
		{name: "provider backend list", layer: project, file: "[providers.x]\nbackend = [1]\n", want: "providers.x.backend in PROJECT: want a string, got [1]"},
		{name: "provider bad name", layer: user, file: "[providers.\"-x\"]\n", want: `[providers.-x] in USER: invalid provider name "-x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u, p, l string
			switch tt.layer {
			case user:
				u = tt.file
			case project:
				p = tt.file
			case local:
				l = tt.file
			}
			f := newFixture(t, u, p, l)
			for k, v := range tt.env {
				f.env[k] = v
			}
			_, err := f.loadWith(testFlags, tt.overrides...)
			want := strings.NewReplacer(
				user, filepath.Join(f.home, ".mngr", "settings.toml"),
				project, filepath.Join(f.repo, ".mngr", "settings.toml"),
				local, filepath.Join(f.repo, ".mngr", "settings.local.toml"),
			).Replace(tt.want)
			if err == nil {
				t.Fatalf("loaded; want an error containing %q", want)
			}
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Errorf("error %v does not wrap ErrInvalidInput", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\nlacks\n  %s", err, want)
			}
			if m := goTypeName.FindString(err.Error() + " " + core.HintOf(err)); m != "" {
				t.Errorf("error %v names a Go type (%q)", err, m)
			}
			if core.HintOf(err) == "" {
				t.Errorf("error %v has no hint", err)
			}
		})
	}
}

// TestGoodValues: values of the right type load, including env and -S
// texts for string settings that look like numbers.
func TestGoodValues(t *testing.T) {
	f := newFixture(t, "enabled_backends = [\"local\"]\n[commands.create]\ntype = \"claude\"\nconnect = false\nbuild_arg = [\"A=1\"]\n[commands.destroy]\nremove_created_branch = true\n",
		"agent_ready_timeout = 0.5\n[retry]\nconnect_retry_delay = 2\n", "")
	f.env["MNGR__COMMANDS__CREATE__TRANSFER"] = "none"
	c, err := f.loadWith(testFlags, "prefix=42", "headless=true")
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "42" || c.CreateType() != "claude" || c.CommandDefault("create", "transfer") != "none" || len(c.EnabledBackends) != 1 {
		t.Errorf("prefix=%q type=%q transfer=%q backends=%v", c.Prefix, c.CreateType(), c.CommandDefault("create", "transfer"), c.EnabledBackends)
	}
	if v, _ := c.Get("headless"); v != true {
		t.Errorf("headless = %v", v)
	}
}

// TestProviderValues: the backends' own keys are checked when the backend
// reads its block, with the key's full name and file, and no Go type name.
func TestProviderValues(t *testing.T) {
	tests := []struct {
		name, user string
		overrides  []string
		decode     func(ProviderBlock) error
		want       string
	}{
		{name: "azure disk size text", user: "[providers.azure]\nos_disk_size_gb = \"abc\"\n",
			decode: func(b ProviderBlock) error { _, err := azure.LoadConfig(b); return err },
			want:   `providers.azure.os_disk_size_gb in USER: want a whole number, got "abc"`},
		{name: "azure disk size too small", user: "[providers.azure]\nos_disk_size_gb = 10\n",
			decode: func(b ProviderBlock) error { _, err := azure.LoadConfig(b); return err },
			want:   "providers.azure.os_disk_size_gb in USER: 10 must be between 30 and 4095"},
		{name: "azure cidrs string", user: "[providers.azure]\nallowed_ssh_cidrs = \"10.0.0.0/8\"\n",
			decode: func(b ProviderBlock) error { _, err := azure.LoadConfig(b); return err },
			want:   `providers.azure.allowed_ssh_cidrs in USER: want a list of strings, like ["a", "b"], got "10.0.0.0/8"`},
		{name: "azure public ip -S", user: "[providers.azure]\n", overrides: []string{"providers.azure.associate_public_ip=sometimes"},
			decode: func(b ProviderBlock) error { _, err := azure.LoadConfig(b); return err },
			want:   `providers.azure.associate_public_ip in -S: want true or false, got "sometimes"`},
		{name: "azure region -S", user: "[providers.azure]\n", overrides: []string{"providers.azure.default_region=West US"},
			decode: func(b ProviderBlock) error { _, err := azure.LoadConfig(b); return err },
			want:   `providers.azure.default_region in -S: "West US" is not an Azure region name`},
		{name: "azure unknown key", user: "[providers.azure]\nregion = \"westus\"\n",
			decode: func(b ProviderBlock) error { _, err := azure.LoadConfig(b); return err },
			want:   "unknown key providers.azure.region in USER: valid keys are admin_username,"},
		{name: "local host_dir number", user: "[providers.local]\nhost_dir = 3\n",
			decode: func(b ProviderBlock) error { var c local.Config; return b.Decode(&c) },
			want:   "providers.local.host_dir in USER: want a string, got 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.user, "", "")
			c, err := f.load(tt.overrides...)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(strings.Fields(tt.want)[0], "providers.")
			if strings.HasPrefix(tt.want, "unknown key ") {
				name = strings.TrimPrefix(strings.Fields(tt.want)[2], "providers.")
			}
			name, _, _ = strings.Cut(name, ".")
			b, ok := c.Provider(name)
			if !ok {
				t.Fatalf("no block %q", name)
			}
			err = tt.decode(b)
			want := strings.ReplaceAll(tt.want, "USER", filepath.Join(f.home, ".mngr", "settings.toml"))
			if !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), want) {
				t.Errorf("error\n  %v\nwant invalid input containing\n  %s", err, want)
			}
			if m := goTypeName.FindString(err.Error() + " " + core.HintOf(err)); m != "" {
				t.Errorf("error %v names a Go type (%q)", err, m)
			}
			if core.HintOf(err) == "" {
				t.Errorf("error %v has no hint", err)
			}
		})
	}
}

// TestSettingsSources: list shows every effective setting with its source,
// and a later layer's source replaces an earlier one's.
func TestSettingsSources(t *testing.T) {
	f := newFixture(t, "prefix = \"u-\"\n[retry]\nconnect_retry_times = 5\n", "[commands.create]\ntype = \"claude\"\n", "[commands.create]\ntype = \"codex\"\n")
	f.env["MNGR__AGENT_READY_TIMEOUT"] = "20"
	c, err := f.loadWith(testFlags, "is_nested_tmux_allowed=true")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range c.Settings() {
		got[s.Key] = s
	}
	userFile := filepath.Join(f.home, ".mngr", "settings.toml")
	localFile := filepath.Join(f.repo, ".mngr", "settings.local.toml")
	want := map[string]Setting{
		"prefix":                    {Key: "prefix", Value: "u-", Source: Source{Layer: LayerUser, Where: userFile}},
		"retry.connect_retry_times": {Key: "retry.connect_retry_times", Value: int64(5), Source: Source{Layer: LayerUser, Where: userFile}},
		"retry.connect_retry_delay": {Key: "retry.connect_retry_delay", Value: "5s", Source: Source{Layer: LayerDefault}},
		"commands.create.type":      {Key: "commands.create.type", Value: "codex", Source: Source{Layer: LayerLocal, Where: localFile}},
		"agent_ready_timeout":       {Key: "agent_ready_timeout", Value: int64(20), Source: Source{Layer: LayerEnv, Where: "MNGR__AGENT_READY_TIMEOUT"}},
		"is_nested_tmux_allowed":    {Key: "is_nested_tmux_allowed", Value: true, Source: Source{Layer: LayerFlag, Where: "-S"}},
		"enabled_backends":          {Key: "enabled_backends", Value: []any{}, Source: Source{Layer: LayerDefault}},
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("Settings lacks %s", k)
			continue
		}
		if g.Key != w.Key || g.Layer != w.Layer || g.Where != w.Where || describe(g.Value) != describe(w.Value) {
			t.Errorf("%s = %+v, want %+v", k, g, w)
		}
	}
	for _, k := range []string{"default_host_dir", "prefix", "agent_ready_timeout"} {
		if _, ok := got[k]; !ok {
			t.Errorf("Settings lacks %s", k)
		}
	}
	for _, tt := range []struct {
		key   string
		layer string
		err   bool
	}{
		{key: "agent_ready_timeout", layer: LayerEnv},
		{key: "retry.connect_retry_delay", layer: LayerDefault},
		{key: "headless", layer: LayerUnset},
		{key: "commands.create.transfer", layer: LayerUnset},
		{key: "commands.create.nosuch", err: true},
		{key: "commands.nosuch", err: true},
		{key: "nosuch", err: true},
		{key: "agent_types.x.bogus", err: true},
		{key: "retry.bogus", err: true},
		{key: "providers.azure.default_region", layer: LayerUnset},
		{key: "retry", layer: LayerMixed},
		{key: "commands.create", layer: LayerLocal},
	} {
		s, err := c.Lookup(tt.key)
		if tt.err {
			if !errors.Is(err, core.ErrInvalidInput) || core.HintOf(err) == "" {
				t.Errorf("Lookup(%s) = %+v, %v; want invalid input with a hint", tt.key, s, err)
			}
			continue
		}
		if err != nil || s.Layer != tt.layer {
			t.Errorf("Lookup(%s) = %+v, %v; want layer %s", tt.key, s, err, tt.layer)
		}
	}
}

// TestSetValueChecks: SetValue refuses a bad value and leaves the file as
// it was; a string setting keeps its text.
func TestSetValueChecks(t *testing.T) {
	f := newFixture(t, "prefix = \"keep-\"\n", "", "")
	path := filepath.Join(f.home, ".mngr", "settings.toml")
	for _, kv := range [][2]string{{"agent_ready_timeout", "abc"}, {"headless", "maybe"}, {"commands.create.tpye", "x"}, {"enabled_backends", "local"}} {
		if _, err := SetValue(path, kv[0], kv[1], SetOptions{CommandFlags: testFlags}); !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), kv[0]+" in "+path) {
			t.Errorf("SetValue(%s, %s) = %v, want invalid input naming the key and the file", kv[0], kv[1], err)
		}
	}
	if v, err := SetValue(path, "connect_command", "123", SetOptions{CommandFlags: testFlags}); err != nil || v != "123" {
		t.Errorf("SetValue connect_command = %v, %v", v, err)
	}
	c, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "keep-" || c.ConnectCommand != "123" {
		t.Errorf("prefix=%q connect_command=%q", c.Prefix, c.ConnectCommand)
	}
	if _, ok := c.Get("headless"); ok {
		t.Error("a refused set wrote headless")
	}
}
