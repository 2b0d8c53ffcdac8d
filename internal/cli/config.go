package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mngr-azure/mngr/internal/config"
	"github.com/mngr-azure/mngr/internal/core"
)

type configOptions struct {
	f *Factory

	Action string
	Key    string
	Value  string
	Scope  string

	workDir string
	getenv  func(string) string
}

func newCmdConfig(f *Factory) *cobra.Command {
	return newCmdConfigWith(f, nil)
}

func newCmdConfigWith(f *Factory, runF func(*configOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "config",
		Aliases: []string{"cfg"},
		Short:   "Read and write mngr settings",
		Long: `Read the effective settings (list, get) or write one settings file (set, unset).

Layers, lowest first: defaults, ~/.mngr/settings.toml (user),
<git root>/.mngr/settings.toml (project), <git root>/.mngr/settings.local.toml
(local), MNGR__A__B environment variables, -S k.e.y=VALUE. Every value is
checked when its layer is read; a bad one stops the command with exit 2,
naming the key and the file, variable or -S it came from. list shows each
effective value, defaults included, with its source: default, user,
project, local, env or -S; get shows one (and its source with --format
json). set checks the value before it writes. Writes default to the
project scope.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		Example: `  mngr config list
  mngr config get commands.create.type
  mngr config set commands.create.type claude --scope user
  mngr config unset commands.create.type --scope user
  mngr config path`,
	}
	sub := func(use, short string, nargs int, scoped bool, fill func(o *configOptions, args []string)) *cobra.Command {
		opts := &configOptions{f: f, getenv: os.Getenv}
		c := &cobra.Command{
			Use:     use,
			Short:   short,
			Example: configExamples[c0(use)],
			Args:    cobra.ExactArgs(nargs),
			RunE: func(_ *cobra.Command, args []string) error {
				opts.Action = c0(use)
				fill(opts, args)
				opts.useFactoryEnv()
				if runF != nil {
					return runF(opts)
				}
				return runConfig(opts)
			},
		}
		if scoped {
			c.Flags().StringVar(&opts.Scope, "scope", "", "settings file: user, project (default for writes) or local")
		}
		return c
	}
	cmd.AddCommand(
		sub("list", "Show every effective setting, defaults included, with its source", 0, false, func(*configOptions, []string) {}),
		sub("get KEY", "Show the effective value of one setting (its source with --format json)", 1, false, func(o *configOptions, a []string) { o.Key = a[0] }),
		sub("set KEY VALUE", "Check a value and write it to a settings file (VALUE is JSON, else a string)", 2, true, func(o *configOptions, a []string) { o.Key, o.Value = a[0], a[1] }),
		sub("unset KEY", "Remove a setting from a settings file", 1, true, func(o *configOptions, a []string) { o.Key = a[0] }),
		sub("path", "Show the settings file paths", 0, true, func(*configOptions, []string) {}),
		newCmdConfigTrust(f, false, nil),
		newCmdConfigTrust(f, true, nil),
	)
	return cmd
}

// configExamples are the Example texts of the config subcommands, by verb.
var configExamples = map[string]string{
	"list": `  # Every effective setting with its source (default, user, project,
  # local, env or -S), as a table or as JSON
  mngr config list
  mngr config list --format json`,
	"get": `  # The value alone, for scripts; a default counts (prints 10)
  mngr config get agent_ready_timeout

  # The value and where it came from
  mngr config get agent_ready_timeout --format json

  # A known key that is not set prints nothing; an unknown key exits 2
  mngr config get commands.create.type`,
	"set": `  # VALUE is JSON when it parses as JSON, else a string; a string
  # setting keeps VALUE as text. A bad value is refused (exit 2) and
  # nothing is written.
  mngr config set commands.create.type claude --scope user
  mngr config set agent_ready_timeout 30
  mngr config set retry.connect_retry_times 5
  mngr config set providers.azure.allowed_ssh_cidrs '["203.0.113.4/32"]' --scope local`,
	"unset": `  mngr config unset commands.create.type --scope user`,
	"path": `  # The user, project and local settings files
  mngr config path

  # Only the file of one scope
  mngr config path --scope user`,
}

// c0 is the verb of a Use line.
func c0(use string) string {
	for i, r := range use {
		if r == ' ' {
			return use[:i]
		}
	}
	return use
}

func runConfig(opts *configOptions) error {
	f := opts.f
	format := f.Format()
	switch opts.Action {
	case "list":
		cfg, err := f.Config()
		if err != nil {
			return err
		}
		settings := cfg.Settings()
		events := make([]any, 0, len(settings))
		for _, s := range settings {
			events = append(events, s)
		}
		return Emit(f.IO, format, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			if _, err := fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE"); err != nil {
				return err
			}
			for _, s := range settings {
				if _, err := fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, renderValue(s.Value), renderSource(s.Source)); err != nil {
					return err
				}
			}
			return tw.Flush()
		}, map[string]any{"settings": settings}, events)
	case "get":
		cfg, err := f.Config()
		if err != nil {
			return err
		}
		s, err := cfg.Lookup(opts.Key)
		if err != nil {
			if format != FormatHuman {
				_ = writeJSONLine(f.IO.Out, map[string]any{"error": err.Error(), "hint": core.HintOf(err), "key": opts.Key})
			}
			return err
		}
		return Emit(f.IO, format, func(w io.Writer) error {
			if s.Layer == config.LayerUnset {
				if !f.Quiet() {
					logf(f.IO.ErrOut, "%s is not set and has no default\n", s.Key)
				}
				return nil
			}
			_, err := fmt.Fprintln(w, renderValue(s.Value))
			return err
		}, s, []any{s})
	case "set", "unset":
		scope := config.Scope(firstNonEmpty(opts.Scope, string(config.ScopeProject)))
		path, err := config.ScopePath(scope, opts.workDir, opts.getenv)
		if err != nil {
			return err
		}
		wasTrusted, err := config.IsTrusted(path, opts.getenv)
		if err != nil {
			return err
		}
		if opts.Action == "unset" {
			if err := config.UnsetValue(path, opts.Key); err != nil {
				if errors.Is(err, core.ErrNotFound) {
					return core.WithHint(err, "run 'mngr config path' to see the files; the key may be set in another scope")
				}
				return err
			}
			if err := keepTrustAfterWrite(f, scope, path, "", wasTrusted, opts.getenv); err != nil {
				return err
			}
			res := map[string]any{"key": opts.Key, "scope": scope, "path": path}
			return Emit(f.IO, format, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Unset %s in %s (%s)\n", opts.Key, scope, path)
				return err
			}, res, []any{res})
		}
		val, err := config.SetValue(path, opts.Key, opts.Value, config.SetOptions{
			CommandFlags: f.commandFlags,
			Verify:       func(file map[string]any) error { return verifyProviderSet(opts, path, file) },
		})
		if err != nil {
			return err
		}
		if err := keepTrustAfterWrite(f, scope, path, opts.Key, wasTrusted, opts.getenv); err != nil {
			return err
		}
		res := map[string]any{"key": opts.Key, "value": val, "scope": scope, "path": path}
		return Emit(f.IO, format, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Set %s = %s in %s (%s)\n", opts.Key, renderValue(val), scope, path)
			return err
		}, res, []any{res})
	case "path":
		user, project, local := config.Paths(opts.workDir, opts.getenv)
		paths := map[string]string{"user": user, "project": project, "local": local}
		if opts.Scope != "" {
			p, err := config.ScopePath(config.Scope(opts.Scope), opts.workDir, opts.getenv)
			if err != nil {
				return err
			}
			res := map[string]any{"scope": opts.Scope, "path": p}
			return Emit(f.IO, format, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, p)
				return err
			}, res, []any{res})
		}
		return Emit(f.IO, format, func(w io.Writer) error {
			for _, s := range []string{"user", "project", "local"} {
				p := paths[s]
				if p == "" {
					p = "(not in a git repository)"
				}
				if _, err := fmt.Fprintf(w, "%s: %s\n", s, p); err != nil {
					return err
				}
			}
			return nil
		}, paths, []any{paths})
	}
	return fmt.Errorf("unknown config action %q", opts.Action)
}

// verifyProviderSet lets the backend check a providers.NAME.KEY value
// before config set writes it: the settings are loaded with the file as it
// would be, and the backend reads block NAME as a command would. Other
// keys, and settings that do not load for another reason, are left to the
// schema check.
func verifyProviderSet(opts *configOptions, path string, file map[string]any) error {
	parts := strings.Split(opts.Key, ".")
	if len(parts) < 3 || parts[0] != "providers" || opts.f.Registry == nil {
		return nil
	}
	cfg, err := config.Load(config.LoadOptions{
		WorkDir: opts.workDir, Overrides: opts.f.global.settings, Getenv: opts.getenv,
		CommandFlags: opts.f.commandFlags, Replace: map[string]map[string]any{path: file},
	})
	if err != nil {
		return nil //nolint:nilerr // another layer's problem: the next command reports it
	}
	block, ok := cfg.Provider(parts[1])
	if !ok {
		return nil
	}
	b, ok := opts.f.Registry.Lookup(block.Backend())
	if !ok {
		return core.WithHint(fmt.Errorf("providers.%s.backend in %s: unknown backend %q: %w", parts[1], path, block.Backend(), core.ErrInvalidInput),
			"nothing was written; set backend to one of: %s", strings.Join(opts.f.Registry.Names(), ", "))
	}
	if b.CheckSettings == nil {
		return nil
	}
	if err := b.CheckSettings(block); err != nil {
		return core.WithHint(err, "nothing was written; docs/configuration.md lists the %s keys and their values", block.Backend())
	}
	return nil
}

// renderSource is the SOURCE column of config list: the layer, and the
// variable for env.
func renderSource(s config.Source) string {
	if s.Layer == config.LayerEnv {
		return s.Layer + " (" + s.Where + ")"
	}
	return s.Layer
}

// commandFlagsOf lists the flags of each command, for the
// [commands.VERB] settings: a top-level verb by its name, a subcommand by
// its path after mngr ("azure bake", written [commands."azure bake"]).
func commandFlagsOf(root *cobra.Command) config.CommandFlags {
	out := config.CommandFlags{}
	var walk func(parent *cobra.Command, prefix string)
	walk = func(parent *cobra.Command, prefix string) {
		for _, c := range parent.Commands() {
			if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
				continue
			}
			flags := map[string]string{}
			c.NonInheritedFlags().VisitAll(func(fl *pflag.Flag) {
				if fl.Name != "help" {
					flags[fl.Name] = fl.Value.Type()
				}
			})
			out[prefix+c.Name()] = flags
			walk(c, prefix+c.Name()+" ")
		}
	}
	walk(root, "")
	return out
}

func renderValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}
