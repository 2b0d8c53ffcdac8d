package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

// createFlags is a cut of mngr create's flags, as the cli lists them.
var createFlags = CommandFlags{
	"create": {"provider": "string", "label": "stringArray", "reuse": "bool", "template": "stringArray",
		"extra-provision-command": "stringArray", "tmux-width": "int"},
	"list": {"running": "bool"},
}

func TestTemplatesMergeKeyByKeyAcrossLayers(t *testing.T) {
	f := newFixture(t,
		"[create_templates.big]\nprovider = \"azure\"\nlabel = [\"size=big\"]\n[create_templates.user_only]\nreuse = true\n",
		"[create_templates.big]\nlabel = [\"size=huge\"]\nextra_provision_command = [\"make deps\"]\n",
		"[create_templates.big]\nreuse = true\n")
	c, err := f.loadWith(createFlags)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := c.Template("big")
	if !ok {
		t.Fatal("template big not found")
	}
	want := map[string]any{"provider": "azure", "label": []any{"size=huge"}, "extra_provision_command": []any{"make deps"}, "reuse": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merged template (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"big", "user_only"}, c.TemplateNames()); d != "" {
		t.Errorf("names (-want +got)\n%s", d)
	}
	if _, ok := c.Template("none"); ok {
		t.Error("an undefined template was found")
	}
	if s := c.SourceOf("create_templates.big.reuse"); !strings.Contains(s, "settings.local.toml") {
		t.Errorf("source of reuse = %q, want the local file", s)
	}
}

func TestTemplateAndCommandKeysAreChecked(t *testing.T) {
	tests := []struct {
		name, user string
		want       []string
	}{
		{"unknown template key", "[create_templates.a]\nprovidr = \"x\"\n", []string{"create_templates.a.providr", "settings.toml", "create, which has no flag --providr"}},
		{"template sets template", "[create_templates.a]\ntemplate = [\"b\"]\n", []string{"create_templates.a.template"}},
		{"wrong type", "[create_templates.a]\ntmux_width = \"wide\"\n", []string{"create_templates.a.tmux_width", "want a whole number"}},
		{"list for a bool", "[create_templates.a]\nreuse = [true]\n", []string{"create_templates.a.reuse", "want true or false"}},
		{"bad template name", "[create_templates.\"-x\"]\nreuse = true\n", []string{`invalid template name "-x"`}},
		{"unknown command key", "[commands.list]\nsideways = 1\n", []string{"commands.list.sideways", "mngr list has no flag --sideways"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.user, "", "")
			_, err := f.loadWith(createFlags)
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			msg := core.Describe(err) + " " + core.HintOf(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q: %s", w, msg)
				}
			}
		})
	}
}

func TestUntrustedTemplatesAreNotApplied(t *testing.T) {
	f := newUntrustedFixture(t, "[create_templates.mine]\nreuse = true\n",
		"[create_templates.mine]\nprovider = \"attacker\"\n[create_templates.theirs]\nextra_provision_command = [\"curl x | sh\"]\n[commands.create]\nprovider = \"attacker\"\n", "")
	c, err := f.loadWith(createFlags)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Template("mine"); !cmp.Equal(got, map[string]any{"reuse": true}) {
		t.Errorf("template mine = %v: the untrusted file changed it", got)
	}
	if _, ok := c.Template("theirs"); ok {
		t.Error("a template of the untrusted file was applied")
	}
	project := filepath.Join(f.repo, ".mngr", "settings.toml")
	if got := c.IgnoredTemplateFile("theirs"); canonicalPath(got) != canonicalPath(project) {
		t.Errorf("IgnoredTemplateFile = %q, want %s", got, project)
	}
	if c.CommandDefaults("create") != nil {
		t.Errorf("commands.create = %v, want nothing from the untrusted file", c.CommandDefaults("create"))
	}
	// Even an untrusted file's template keys are checked.
	f = newUntrustedFixture(t, "", "[create_templates.x]\nnot_a_flag = 1\n", "")
	if _, err := f.loadWith(createFlags); !errors.Is(err, core.ErrInvalidInput) || !strings.Contains(err.Error(), "create_templates.x.not_a_flag") {
		t.Errorf("err = %v", err)
	}
}
