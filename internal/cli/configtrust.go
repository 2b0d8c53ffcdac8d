package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/config"
	"github.com/mngr-azure/mngr/internal/core"
)

type configTrustOptions struct {
	f *Factory

	Untrust bool
	Paths   []string

	getenv func(string) string
}

// newCmdConfigTrust builds `config trust` (untrust=false) and `config untrust`.
func newCmdConfigTrust(f *Factory, untrust bool, runF func(*configTrustOptions) error) *cobra.Command {
	opts := &configTrustOptions{f: f, Untrust: untrust}
	cmd := &cobra.Command{
		Use:   "trust [PATH]",
		Short: "Let a repository's settings file set every key",
		Long: `Trust the current content of a project or local settings file
(<git root>/.mngr/settings.toml, settings.local.toml): mngr then applies every
key in it. Without PATH, the files of the repository around the current
directory are trusted.

Until then mngr applies only keys that cannot send credentials, run commands
or move state (` + strings.Join(config.UntrustedAllowedKeys(), ", ") + `), and says on stderr
which keys it ignored. mngr records the file's absolute path and the sha256 of
its content in ` + "`~/.mngr/trusted.toml`" + `; once the file changes, it is untrusted
again until you trust it again. Read the file before you trust it.`,
		Args: cobra.MaximumNArgs(1),
		Example: `  # Read the repository's settings, then let all of them apply
  cat .mngr/settings.toml
  mngr config trust

  # One file by path
  mngr config trust ~/src/app/.mngr/settings.local.toml`,
		RunE: func(_ *cobra.Command, args []string) error {
			opts.Paths = args
			// Not f.Env(): that loads the settings, and their notice
			// about this very file would come before the answer.
			opts.getenv = f.getenv
			if opts.getenv == nil {
				opts.getenv = os.Getenv
			}
			if runF != nil {
				return runF(opts)
			}
			return runConfigTrust(opts)
		},
	}
	if untrust {
		cmd.Use = "untrust [PATH]"
		cmd.Short = "Stop applying a repository's settings file in full"
		cmd.Long = `Forget that you trusted a project or local settings file: mngr again applies
only the keys an untrusted file may set. Without PATH, the files of the
repository around the current directory.`
		cmd.Example = `  mngr config untrust
  mngr config untrust ~/src/app/.mngr/settings.toml`
	}
	return cmd
}

// useFactoryEnv reads the environment and the working directory through the
// Factory (tests give it their own HOME and directory).
func (o *configOptions) useFactoryEnv() {
	if env := o.f.Env(); env.Getenv != nil {
		o.getenv = env.Getenv
	}
	if o.workDir == "" && o.f.Getwd != nil {
		o.workDir, _ = o.f.Getwd()
	}
}

// keepTrustAfterWrite runs after `config set|unset` wrote a project or local
// file: a file that was trusted before mngr's own edit stays trusted (the
// user made the edit); otherwise a key that needs trust gets a note on
// stderr saying it will not apply yet.
func keepTrustAfterWrite(f *Factory, scope config.Scope, path, key string, wasTrusted bool, getenv func(string) string) error {
	if scope == config.ScopeUser {
		return nil
	}
	if wasTrusted {
		if _, err := config.TrustFile(path, getenv); err != nil {
			return fmt.Errorf("keep %s trusted: %w", path, err)
		}
		return nil
	}
	if key != "" && !slices.Contains(config.UntrustedAllowedKeys(), key) {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "mngr: %s in %s applies only once you trust the file: mngr config trust %s\n",
			core.Printable(key), core.Printable(path), core.ShellQuote(path))
	}
	return nil
}

// trustResult is one file config trust or untrust changed.
type trustResult struct {
	Path    string `json:"path"`
	Trusted bool   `json:"trusted"`
	SHA256  string `json:"sha256,omitempty"`
}

func runConfigTrust(opts *configTrustOptions) error {
	f := opts.f
	paths := opts.Paths
	if len(paths) == 0 {
		wd, err := f.Getwd()
		if err != nil {
			return fmt.Errorf("find the current directory: %w", err)
		}
		paths = config.ProjectFiles(wd, opts.getenv)
		if len(paths) == 0 {
			return core.WithHint(fmt.Errorf("no project or local settings file here: %w", core.ErrNotFound),
				"run it inside a git repository with .mngr/settings.toml, or give the PATH of the file")
		}
	}
	var results []trustResult
	for _, p := range paths {
		if opts.Untrust {
			path, err := config.UntrustFile(p, opts.getenv)
			if errors.Is(err, core.ErrNotFound) && len(opts.Paths) == 0 {
				continue
			}
			if err != nil {
				return err
			}
			results = append(results, trustResult{Path: path})
			continue
		}
		rec, err := config.TrustFile(p, opts.getenv)
		if err != nil {
			return err
		}
		results = append(results, trustResult{Path: rec.Path, Trusted: true, SHA256: rec.SHA256})
	}
	if opts.Untrust && len(results) == 0 {
		return core.WithHint(fmt.Errorf("no settings file of this repository is trusted: %w", core.ErrNotFound),
			"nothing to do")
	}
	events := make([]any, len(results))
	for i, r := range results {
		events[i] = r
	}
	return Emit(f.IO, f.Format(), func(w io.Writer) error {
		for _, r := range results {
			line := fmt.Sprintf("Untrusted %s: mngr applies only the keys an untrusted file may set\n", core.Printable(r.Path))
			if r.Trusted {
				line = fmt.Sprintf("Trusted %s (sha256 %s): every key applies until the file changes\n", core.Printable(r.Path), r.SHA256)
			}
			if _, err := io.WriteString(w, line); err != nil {
				return err
			}
		}
		return nil
	}, results, events)
}
