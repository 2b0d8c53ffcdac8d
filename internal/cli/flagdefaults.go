package cli

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mngr-azure/mngr/internal/config"
	"github.com/mngr-azure/mngr/internal/core"
)

// Flags a verb's settings never set: they pick the settings themselves, or
// are the global ones.
var unconfigurableVerbs = map[string]bool{"config": true, "help": true, "completion": true, "version": true}

// applyConfiguredFlags gives the flags of a verb the values its settings
// choose, for every flag the user did not give on the command line: first
// [commands.VERB] (VERB a subcommand's path, as "azure bake"), then
// (create only) each -t/--template in order, a later one winning. What the
// user typed always wins. The verb's explicit flags are recorded on f for
// the verb to read (flagGiven).
func applyConfiguredFlags(f *Factory, cmd *cobra.Command) error {
	if cmd.Parent() == nil {
		return nil
	}
	verb := commandVerb(cmd)
	if first, _, _ := strings.Cut(verb, " "); unconfigurableVerbs[first] {
		return nil
	}
	fs := cmd.Flags()
	explicit := map[string]bool{}
	fs.Visit(func(fl *pflag.Flag) { explicit[fl.Name] = true })
	f.explicit = explicit
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	if err := setFlagsFrom(fs, explicit, cfg.CommandDefaults(verb), func(k string) string {
		return "commands." + verb + "." + k + " " + cfg.SourceOf("commands."+verb+"."+k)
	}); err != nil {
		return err
	}
	if verb != "create" {
		return nil
	}
	names, err := fs.GetStringArray("template")
	if err != nil {
		return nil //nolint:nilerr // a create without --template (a test's own command) has no templates to apply.
	}
	for _, name := range names {
		t, ok := cfg.Template(name)
		if !ok {
			return unknownTemplate(cfg, name)
		}
		if err := setFlagsFrom(fs, explicit, t, func(k string) string {
			return "create_templates." + name + "." + k + " " + cfg.SourceOf("create_templates."+name+"."+k)
		}); err != nil {
			return err
		}
	}
	return nil
}

// commandVerb is cmd's path after the root command: "create", "azure bake".
func commandVerb(cmd *cobra.Command) string {
	var parts []string
	for c := cmd; c.Parent() != nil; c = c.Parent() {
		parts = append([]string{c.Name()}, parts...)
	}
	return strings.Join(parts, " ")
}

// unknownTemplate is the error for -t NAME that no applied settings file
// defines, naming an untrusted file that does.
func unknownTemplate(cfg *config.Config, name string) error {
	err := fmt.Errorf("no create template named %q: %w", name, core.ErrInvalidInput)
	if file := cfg.IgnoredTemplateFile(name); file != "" {
		return core.WithHint(fmt.Errorf("create template %q is defined in %s, which mngr did not apply because the file is not trusted: %w", name, core.Printable(file), core.ErrInvalidInput),
			"read the file, then trust it with: mngr config trust %s", core.ShellQuote(file))
	}
	if known := cfg.TemplateNames(); len(known) > 0 {
		return core.WithHint(err, "the templates are: %s", strings.Join(known, ", "))
	}
	return core.WithHint(err, "define it as a [create_templates.%s] table in ~/.mngr/settings.toml (see docs/many-agents.md)", name)
}

// setFlagsFrom sets each flag named in values (a file's key: the flag's
// name, '_' for '-') that the user did not give; where names the setting
// for a message. Values were checked against the flag's type when the
// settings were read.
func setFlagsFrom(fs *pflag.FlagSet, explicit map[string]bool, values map[string]any, where func(string) string) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fl := fs.Lookup(k)
		if fl == nil {
			fl = fs.Lookup(strings.ReplaceAll(k, "_", "-"))
		}
		if fl == nil {
			return core.WithHint(fmt.Errorf("%s: no flag --%s: %w", where(k), strings.ReplaceAll(k, "_", "-"), core.ErrInvalidInput),
				"remove or rename the key (run the command with --help to see its flags)")
		}
		if explicit[fl.Name] {
			continue
		}
		if err := setFlag(fs, fl, values[k]); err != nil {
			return core.WithHint(fmt.Errorf("%s: %w: %w", where(k), err, core.ErrInvalidInput), "fix the value (see docs/many-agents.md)")
		}
	}
	return nil
}

// setFlag gives fl the value v (a TOML value): a list replaces a
// repeatable flag's values, a number of seconds is a duration.
func setFlag(fs *pflag.FlagSet, fl *pflag.Flag, v any) error {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		vals := make([]string, len(list))
		for i, x := range list {
			vals[i] = fmt.Sprint(x)
		}
		if err := sv.Replace(vals); err != nil {
			return err
		}
		fl.Changed = true
		return nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int64:
		s = strconv.FormatInt(x, 10)
		if fl.Value.Type() == "duration" {
			s = (time.Duration(x) * time.Second).String()
		}
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
		if fl.Value.Type() == "duration" && x < math.MaxInt64/float64(time.Second) {
			s = time.Duration(x * float64(time.Second)).String()
		}
	default:
		return fmt.Errorf("want a value for --%s, got %v", fl.Name, v)
	}
	return fs.Set(fl.Name, s)
}

// flagGiven reports whether the user typed flag name on the command line
// (not a settings default); true when unknown (no pre-run recorded it).
func (f *Factory) flagGiven(name string) bool {
	if f.explicit == nil {
		return true
	}
	return f.explicit[name]
}
