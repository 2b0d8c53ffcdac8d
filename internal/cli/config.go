package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"

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
		Long: `Read the merged settings (list, get) or write one settings file (set, unset).

Layers, lowest first: defaults, ~/.mngr/settings.toml (user),
<git root>/.mngr/settings.toml (project), <git root>/.mngr/settings.local.toml
(local), MNGR__A__B environment variables, -S k.e.y=VALUE. Writes default to
the project scope.`,
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
		sub("list", "Show every merged setting", 0, false, func(*configOptions, []string) {}),
		sub("get KEY", "Show one merged setting", 1, false, func(o *configOptions, a []string) { o.Key = a[0] }),
		sub("set KEY VALUE", "Write a setting (VALUE is JSON, else a string)", 2, true, func(o *configOptions, a []string) { o.Key, o.Value = a[0], a[1] }),
		sub("unset KEY", "Remove a setting from a settings file", 1, true, func(o *configOptions, a []string) { o.Key = a[0] }),
		sub("path", "Show the settings file paths", 0, true, func(*configOptions, []string) {}),
		newCmdConfigTrust(f, false, nil),
		newCmdConfigTrust(f, true, nil),
	)
	return cmd
}

// configExamples are the Example texts of the config subcommands, by verb.
var configExamples = map[string]string{
	"list": `  # Every merged setting, as text or as JSON
  mngr config list
  mngr config list --format json`,
	"get": `  mngr config get commands.create.type
  mngr config get providers.azure.default_region`,
	"set": `  # VALUE is JSON when it parses as JSON, else a string
  mngr config set commands.create.type claude --scope user
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
		flat := cfg.Flatten()
		keys := make([]string, 0, len(flat))
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var events []any
		for _, k := range keys {
			events = append(events, map[string]any{"key": k, "value": flat[k]})
		}
		return Emit(f.IO, format, func(w io.Writer) error {
			for _, k := range keys {
				if _, err := fmt.Fprintf(w, "%s = %s\n", k, renderValue(flat[k])); err != nil {
					return err
				}
			}
			return nil
		}, flat, events)
	case "get":
		cfg, err := f.Config()
		if err != nil {
			return err
		}
		v, ok := cfg.Get(opts.Key)
		switch opts.Key {
		case "prefix":
			v, ok = cfg.Prefix, true
		case "default_host_dir":
			v, ok = cfg.DefaultHostDir, true
		}
		if !ok {
			if format != FormatHuman {
				_ = writeJSONLine(f.IO.Out, map[string]any{"error": "Key not found: " + opts.Key, "key": opts.Key})
			}
			return core.WithHint(fmt.Errorf("key not found: %s: %w", opts.Key, core.ErrNotFound), "run 'mngr config list' to see the set keys")
		}
		res := map[string]any{"key": opts.Key, "value": v}
		return Emit(f.IO, format, func(w io.Writer) error {
			_, err := fmt.Fprintln(w, renderValue(v))
			return err
		}, res, []any{res})
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
		val := config.ParseValue(opts.Value)
		if err := config.SetValue(path, opts.Key, val); err != nil {
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
