package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

type fixture struct {
	home, repo string
	env        map[string]string
}

func newFixture(t *testing.T, user, project, local string) *fixture {
	t.Helper()
	f := &fixture{home: t.TempDir(), repo: t.TempDir(), env: map[string]string{}}
	f.env["HOME"] = f.home
	if err := os.MkdirAll(filepath.Join(f.repo, ".git"), 0o750); err != nil {
		t.Fatal(err)
	}
	write := func(path, body string) {
		if body == "" {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(f.home, ".mngr", "settings.toml"), user)
	write(filepath.Join(f.repo, ".mngr", "settings.toml"), project)
	write(filepath.Join(f.repo, ".mngr", "settings.local.toml"), local)
	// These tests are about layering, so the user trusts the repository's
	// files; trust_test.go covers untrusted ones.
	for _, p := range ProjectFiles(f.repo, f.getenv) {
		if _, err := TrustFile(p, f.getenv); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) getenv(k string) string { return f.env[k] }

func (f *fixture) load(overrides ...string) (*Config, error) {
	return f.loadWith(nil, overrides...)
}

// loadWith loads with the given [commands.VERB] flags.
func (f *fixture) loadWith(flags CommandFlags, overrides ...string) (*Config, error) {
	sub := filepath.Join(f.repo, "a", "b")
	_ = os.MkdirAll(sub, 0o750)
	return Load(LoadOptions{
		WorkDir:      sub,
		Overrides:    overrides,
		CommandFlags: flags,
		Getenv:       func(k string) string { return f.env[k] },
		Environ: func() []string {
			var out []string
			for k, v := range f.env {
				out = append(out, k+"="+v)
			}
			return out
		},
	})
}

func TestLoadLayers(t *testing.T) {
	tests := []struct {
		name                  string
		user, project, local  string
		env                   map[string]string
		overrides             []string
		wantPrefix, wantType  string
		wantHostDirUnderHome  string
		wantProviders         []string
		wantNestedTmuxAllowed bool
	}{
		{
			name:       "defaults",
			wantPrefix: "mngr-", wantHostDirUnderHome: ".mngr",
		},
		{
			name:       "project over user, local over project",
			user:       "prefix = \"u-\"\n[commands.create]\ntype = \"claude\"\n",
			project:    "prefix = \"p-\"\n",
			local:      "[commands.create]\ntype = \"codex\"\n",
			wantPrefix: "p-", wantType: "codex", wantHostDirUnderHome: ".mngr",
		},
		{
			name:       "env over files, -S over env",
			project:    "prefix = \"p-\"\n",
			env:        map[string]string{"MNGR__PREFIX": "e-", "MNGR__IS_NESTED_TMUX_ALLOWED": "true", "MNGR__COMMANDS__CREATE__TYPE": "command"},
			overrides:  []string{"prefix=s-"},
			wantPrefix: "s-", wantType: "command", wantHostDirUnderHome: ".mngr", wantNestedTmuxAllowed: true,
		},
		{
			name:       "MNGR_PREFIX and MNGR_HOST_DIR win",
			user:       "prefix = \"u-\"\ndefault_host_dir = \"~/elsewhere\"\n",
			env:        map[string]string{"MNGR_PREFIX": "t-", "MNGR_HOST_DIR": "HOME/hd"},
			wantPrefix: "t-", wantHostDirUnderHome: "hd",
		},
		{
			name:       "provider blocks merge per key",
			user:       "[providers.azure]\nlocation = \"westus\"\n",
			project:    "[providers.azure-b]\nbackend = \"azure\"\n",
			wantPrefix: "mngr-", wantHostDirUnderHome: ".mngr",
			wantProviders: []string{"azure", "azure-b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.user, tt.project, tt.local)
			for k, v := range tt.env {
				f.env[k] = strings.ReplaceAll(v, "HOME", f.home)
			}
			c, err := f.load(tt.overrides...)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{c.Prefix, c.CreateType(), c.DefaultHostDir, c.ProviderNames(), c.IsNestedTmuxAllowed}
			want := []any{tt.wantPrefix, tt.wantType, filepath.Join(f.home, tt.wantHostDirUnderHome), tt.wantProviders, tt.wantNestedTmuxAllowed}
			if d := cmp.Diff(want, got, cmp.Transformer("nilSlice", func(s []string) []string {
				if len(s) == 0 {
					return nil
				}
				return s
			})); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name           string
		user, project  string
		overrides      []string
		wantSubstrings []string
	}{
		{name: "bad toml", project: "prefix = \n", wantSubstrings: []string{"settings.toml", "line 1"}},
		{name: "unknown top-level key", user: "colour = 1\n", wantSubstrings: []string{`unknown key "colour"`, "settings.toml", "valid keys are"}},
		{name: "bad -S", overrides: []string{"noequals"}, wantSubstrings: []string{`invalid setting "noequals"`}},
		{name: "unknown -S key", overrides: []string{"nope=1"}, wantSubstrings: []string{`unknown key "nope" in -S`}},
		{name: "provider not a table", project: "providers = 3\n", wantSubstrings: []string{"providers in ", "settings.toml must be a table, got 3"}},
		{name: "unknown agent type key", project: "[agent_types.x]\nbogus = 1\n", wantSubstrings: []string{"unknown key agent_types.x.bogus in ", "valid keys are cli_args, command, parent_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.user, tt.project, "")
			_, err := f.load(tt.overrides...)
			if err == nil {
				t.Fatal("want an error")
			}
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Errorf("error %v does not wrap ErrInvalidInput", err)
			}
			if core.HintOf(err) == "" {
				t.Errorf("error %v has no hint", err)
			}
			for _, s := range tt.wantSubstrings {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

type azureLike struct {
	Location      string `toml:"location"`
	ResourceGroup string `toml:"resource_group"`
	Size          int    `toml:"size"`
}

func TestProviderDecode(t *testing.T) {
	f := newFixture(t, "[providers.azure]\nlocation = \"westus\"\n", "[providers.azure]\nsize = 4\nis_enabled = false\n[providers.az2]\nbackend = \"azure\"\nlcation = \"x\"\n", "")
	c, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	b, ok := c.Provider("azure")
	if !ok {
		t.Fatal("azure block missing")
	}
	got := azureLike{ResourceGroup: "default-rg"}
	if err := b.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(azureLike{Location: "westus", ResourceGroup: "default-rg", Size: 4}, got); d != "" {
		t.Errorf("decode (-want +got)\n%s", d)
	}
	if b.Enabled() || b.Backend() != "azure" || b.Name() != "azure" {
		t.Errorf("enabled=%v backend=%q name=%q", b.Enabled(), b.Backend(), b.Name())
	}
	b2, _ := c.Provider("az2")
	if !b2.Enabled() || b2.Backend() != "azure" {
		t.Errorf("az2 enabled=%v backend=%q", b2.Enabled(), b2.Backend())
	}
	err = b2.Decode(&azureLike{})
	projectFile := filepath.Join(f.repo, ".mngr", "settings.toml")
	want := `unknown key providers.az2.lcation in ` + projectFile + `: valid keys are location, resource_group, size`
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("got %v, want it to contain %q", err, want)
	}
	// A wrong value type names the key and the file, in mngr's words.
	f2 := newFixture(t, "[providers.azure]\nsize = \"big\"\n", "", "")
	c2, err := f2.load()
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := c2.Provider("azure")
	if err := b3.Decode(&azureLike{}); err == nil || !strings.Contains(err.Error(), `providers.azure.size in `+filepath.Join(f2.home, ".mngr", "settings.toml")+`: want a whole number, got "big"`) {
		t.Errorf("type error = %v", err)
	}
	if _, ok := c2.Provider("nope"); ok {
		t.Error("Provider(nope) found")
	}
}

func TestGetAndFlatten(t *testing.T) {
	f := newFixture(t, "[commands.create]\ntype = \"claude\"\n", "", "")
	c, err := f.load("retry.connect_retry_times=5")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("retry.connect_retry_times"); !ok || v != int64(5) {
		t.Errorf("Get = %v %v", v, ok)
	}
	if _, ok := c.Get("commands.create.nope"); ok {
		t.Error("missing key found")
	}
	flat := c.Flatten()
	if flat["commands.create.type"] != "claude" || flat["prefix"] != "mngr-" {
		t.Errorf("Flatten = %v", flat)
	}
}

func TestSetUnset(t *testing.T) {
	f := newFixture(t, "", "prefix = \"keep-\"\n", "")
	getenv := func(k string) string { return f.env[k] }
	path, err := ScopePath(ScopeProject, f.repo, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetValue(path, "commands.create.type", "command", SetOptions{}); err != nil {
		t.Fatal(err)
	}
	// An edit changes the file's hash; `mngr config set` trusts it again
	// when it was trusted before, as this does.
	if _, err := TrustFile(path, getenv); err != nil {
		t.Fatal(err)
	}
	c, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "keep-" || c.CreateType() != "command" {
		t.Errorf("after set: prefix=%q type=%q", c.Prefix, c.CreateType())
	}
	if err := UnsetValue(path, "commands.create.type"); err != nil {
		t.Fatal(err)
	}
	if err := UnsetValue(path, "commands.create.type"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("second unset = %v, want ErrNotFound", err)
	}
	if _, err := SetValue(path, "bogus.key", "x", SetOptions{}); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("set bogus = %v", err)
	}
	if _, err := TrustFile(path, getenv); err != nil {
		t.Fatal(err)
	}
	c, err = f.load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "keep-" || c.CreateType() != "" {
		t.Errorf("after unset: prefix=%q type=%q", c.Prefix, c.CreateType())
	}
	userPath, err := ScopePath(ScopeUser, "", getenv)
	if err != nil || userPath != filepath.Join(f.home, ".mngr", "settings.toml") {
		t.Errorf("user path = %q, %v", userPath, err)
	}
	if _, err := ScopePath(ScopeLocal, t.TempDir(), getenv); err == nil {
		t.Error("local scope outside git: want error")
	}
	if _, err := ScopePath("galaxy", "", getenv); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("bad scope = %v", err)
	}
}
