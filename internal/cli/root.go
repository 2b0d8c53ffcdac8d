// Package cli is mngr's command line: one file per verb, the Factory that
// builds config and providers lazily, output formats and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mngr-azure/mngr/internal/config"
	"github.com/mngr-azure/mngr/internal/core"
)

// ExitCode is the process exit status.
type ExitCode int

// Exit codes shared by all commands.
const (
	ExitOK    ExitCode = 0
	ExitError ExitCode = 1
	ExitUsage ExitCode = 2
	// ExitInterrupted is the status of a command stopped by SIGINT or
	// SIGTERM (128 + SIGINT, as shells report it).
	ExitInterrupted ExitCode = 130
)

// GroupFunc adds a command group (for example `mngr azure …`).
type GroupFunc func(f *Factory) *cobra.Command

// IOStreams are the process's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrIsTerminal says stderr is a terminal (spinners, prompts).
	ErrIsTerminal bool
	// OutIsTerminal says stdout is a terminal (create connects by default then).
	OutIsTerminal bool
	// InIsTerminal says stdin is a terminal (destroy may prompt then).
	InIsTerminal bool
}

// Factory gives commands lazy access to config and providers.
type Factory struct {
	IO       *IOStreams
	Registry *core.Registry
	// Config loads (once) the merged config, honouring the global -S flags.
	Config func() (*config.Config, error)
	// Env returns core.Env for providers.
	Env func() core.Env
	// Provider builds the provider instance NAME (a configured block, or a
	// backend's default instance).
	Provider func(ctx context.Context, name string) (core.Provider, error)
	// ProviderBlock returns the settings of instance NAME and its backend name.
	ProviderBlock func(name string) (backend string, s core.Settings, err error)
	// Getwd is the directory mngr was started in (tests replace it).
	Getwd func() (string, error)

	global globalOptions
	// getenv reads the environment (tests give their own).
	getenv func(string) string
	// commandFlags are the flags [commands.VERB] settings may set, filled
	// from the command tree by NewRootCmd.
	commandFlags config.CommandFlags
	// explicit are the flags of the running verb the user typed (the
	// rest may come from its settings: flagdefaults.go).
	explicit map[string]bool
}

type globalOptions struct {
	format   string
	quiet    bool
	verbose  int
	settings []string
}

// Format is the --format value of this invocation.
func (f *Factory) Format() Format { return Format(f.global.format) }

// Quiet reports whether -q was given.
func (f *Factory) Quiet() bool { return f.global.quiet }

// NewFactory builds a Factory over the real environment.
func NewFactory(reg *core.Registry, ios *IOStreams, getenv func(string) string) *Factory {
	f := &Factory{IO: ios, Registry: reg, Getwd: os.Getwd}
	if getenv == nil {
		getenv = os.Getenv
	}
	f.getenv = getenv
	var (
		cfgOnce sync.Once
		cfg     *config.Config
		cfgErr  error
	)
	f.Config = func() (*config.Config, error) {
		cfgOnce.Do(func() {
			wd := ""
			if f.Getwd != nil {
				wd, _ = f.Getwd()
			}
			cfg, cfgErr = config.Load(config.LoadOptions{WorkDir: wd, Overrides: f.global.settings, Getenv: getenv, CommandFlags: f.commandFlags})
			if cfgErr == nil && !f.global.quiet {
				// Once per command, on stderr only: a repository's settings that
				// were not applied (see internal/config/trust.go).
				_, _ = io.WriteString(f.IO.ErrOut, cfg.TrustNotice())
			}
		})
		return cfg, cfgErr
	}
	f.Env = func() core.Env {
		env := core.Env{HostDir: getenv("MNGR_HOST_DIR"), Prefix: getenv("MNGR_PREFIX"), Getenv: getenv}
		if c, err := f.Config(); err == nil {
			env.HostDir, env.Prefix = c.DefaultHostDir, c.Prefix
		}
		if env.Prefix == "" {
			env.Prefix = config.DefaultPrefix
		}
		if env.HostDir == "" {
			home, _ := os.UserHomeDir()
			env.HostDir = filepath.Join(home, strings.TrimPrefix(core.DefaultLocalHostDir, "~/"))
		}
		return env
	}
	f.ProviderBlock = func(name string) (string, core.Settings, error) {
		c, err := f.Config()
		if err != nil {
			return "", nil, err
		}
		if b, ok := c.Provider(name); ok {
			if _, ok := reg.Lookup(b.Backend()); !ok {
				return "", nil, core.WithHint(fmt.Errorf("provider %q: unknown backend %q: %w", name, b.Backend(), core.ErrInvalidInput),
					"set backend to one of: %s", strings.Join(reg.Names(), ", "))
			}
			return b.Backend(), b, nil
		}
		if b, ok := reg.Lookup(name); ok && b.DefaultInstance {
			return name, config.EmptySettings{}, nil
		}
		return "", nil, core.WithHint(fmt.Errorf("unknown provider %q: %w", name, core.ErrNotFound),
			"use one of: %s, or add a [providers.%s] block to your settings", strings.Join(f.providerNamesOrEmpty(), ", "), name)
	}
	var (
		provMu sync.Mutex
		provs  = map[string]core.Provider{}
	)
	f.Provider = func(ctx context.Context, name string) (core.Provider, error) {
		provMu.Lock()
		defer provMu.Unlock()
		if p, ok := provs[name]; ok {
			return p, nil
		}
		backend, s, err := f.ProviderBlock(name)
		if err != nil {
			return nil, err
		}
		b, _ := reg.Lookup(backend)
		p, err := b.New(ctx, name, s, f.Env())
		if err != nil {
			return nil, fmt.Errorf("build provider %q: %w", name, err)
		}
		provs[name] = p
		return p, nil
	}
	return f
}

// ProviderNames lists the active provider instances: enabled configured
// blocks plus each default-instance backend without a block, minus backends
// outside a non-empty enabled_backends.
func (f *Factory) ProviderNames() ([]string, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	allowed := func(backend string) bool {
		if len(c.EnabledBackends) == 0 {
			return true
		}
		for _, b := range c.EnabledBackends {
			if b == backend {
				return true
			}
		}
		return false
	}
	var names []string
	seen := map[string]bool{}
	for _, n := range c.ProviderNames() {
		seen[n] = true
		b, _ := c.Provider(n)
		if b.Enabled() && allowed(b.Backend()) {
			names = append(names, n)
		}
	}
	for _, n := range f.Registry.Names() {
		b, _ := f.Registry.Lookup(n)
		if b.DefaultInstance && !seen[n] && allowed(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func (f *Factory) providerNamesOrEmpty() []string {
	n, _ := f.ProviderNames()
	return n
}

// exitError carries an explicit exit code; printed says the command already
// reported the failure, so Main prints nothing more.
type exitError struct {
	code    ExitCode
	err     error
	printed bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs mngr with os.Args; groups are extra command groups.
func Main(reg *core.Registry, groups ...GroupFunc) ExitCode {
	ios := &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		ErrIsTerminal: isTerminal(os.Stderr), OutIsTerminal: isTerminal(os.Stdout), InIsTerminal: isTerminal(os.Stdin),
	}
	f := NewFactory(reg, ios, os.Getenv)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, ih := newInterruptHandler(context.Background(), ios.ErrOut, func(c ExitCode) { os.Exit(int(c)) })
	go ih.watch(sigs)
	code := Run(ctx, f, os.Args[1:], groups...)
	if ih.interrupted() {
		return ExitInterrupted
	}
	return code
}

// interruptHandler turns signals into mngr's interrupt rules: the first
// SIGINT or SIGTERM cancels the command's context, and the command
// finishes or undoes what it made (each undo on a fresh, bounded context,
// core.UndoContext); a second one stops mngr at once, after naming what
// may remain (the core.Leftovers the command holds) and how to remove it.
type interruptHandler struct {
	errOut io.Writer
	left   *core.Leftovers
	cancel context.CancelFunc
	exit   func(ExitCode)

	mu    sync.Mutex
	count int
}

// newInterruptHandler returns the command's context (carrying the
// leftovers set) and its handler; exit ends the process.
func newInterruptHandler(parent context.Context, errOut io.Writer, exit func(ExitCode)) (context.Context, *interruptHandler) {
	ih := &interruptHandler{errOut: errOut, left: &core.Leftovers{}, exit: exit}
	ctx, cancel := context.WithCancel(core.WithLeftovers(parent, ih.left))
	ih.cancel = cancel
	return ctx, ih
}

// watch handles each signal of sigs until the channel closes.
func (ih *interruptHandler) watch(sigs <-chan os.Signal) {
	for range sigs {
		ih.signal()
	}
}

func (ih *interruptHandler) interrupted() bool {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	return ih.count > 0
}

// signal is one SIGINT or SIGTERM.
func (ih *interruptHandler) signal() {
	ih.mu.Lock()
	ih.count++
	n := ih.count
	ih.mu.Unlock()
	if n == 1 {
		logf(ih.errOut, "\nInterrupted: finishing or undoing what this command made (interrupt again to stop at once)\n")
		ih.cancel()
		return
	}
	ih.printLeftovers()
	ih.exit(ExitInterrupted)
}

// printLeftovers names, grouped by the command that removes them, what the
// command still holds.
func (ih *interruptHandler) printLeftovers() {
	items := ih.left.List()
	if len(items) == 0 {
		logf(ih.errOut, "\nInterrupted again: stopping now. Nothing this command made is known to remain.\n")
		return
	}
	logf(ih.errOut, "\nInterrupted again: stopping now, before the clean-up finished. These may remain:\n")
	var order []string
	byRemove := map[string][]core.Leftover{}
	for _, l := range items {
		if _, ok := byRemove[l.Remove]; !ok {
			order = append(order, l.Remove)
		}
		byRemove[l.Remove] = append(byRemove[l.Remove], l)
	}
	for _, rm := range order {
		for _, l := range byRemove[rm] {
			logf(ih.errOut, "  %s %s\n", l.Kind, l.Name)
		}
		if rm != "" {
			logf(ih.errOut, "  remove them with: %s\n", rm)
		}
	}
}

// Run executes one mngr invocation with args and returns its exit code.
func Run(ctx context.Context, f *Factory, args []string, groups ...GroupFunc) ExitCode {
	root := NewRootCmd(f, groups...)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := reportError(f, err)
	if ctx.Err() != nil {
		// The command stopped because it was interrupted.
		return ExitInterrupted
	}
	return code
}

func reportError(f *Factory, err error) ExitCode {
	code := ExitError
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.printed {
			return code
		}
	} else if errors.Is(err, core.ErrInvalidInput) || isUsageError(err) {
		code = ExitUsage
	}
	msg := core.Describe(err)
	if isUsageError(err) && core.HintOf(err) == "" {
		err = core.WithHint(err, "run 'mngr --help' (or 'mngr COMMAND --help') to see the valid flags and arguments")
	}
	logf(f.IO.ErrOut, "Error: %s\n", core.PrintableLines(msg))
	if h := core.HintOf(err); h != "" {
		logf(f.IO.ErrOut, "  %s\n", core.PrintableLines(h))
	}
	switch f.Format() {
	case FormatJSON:
		_ = writeJSONLine(f.IO.Out, errorResult(err, msg, code))
	case FormatJSONL:
		ev := errorResult(err, msg, code)
		ev["event"] = "error"
		_ = writeJSONLine(f.IO.Out, ev)
	}
	return code
}

// errorResult is the json (and jsonl "error" event) a command that failed
// as a whole prints on stdout, so a script reading stdout sees the failure
// as well as the exit code: error, error_class, hint (when there is one)
// and exit_code.
func errorResult(err error, msg string, code ExitCode) map[string]any {
	res := map[string]any{"error": msg, "error_class": errorClass(err), "exit_code": int(code)}
	if h := core.HintOf(err); h != "" {
		res["hint"] = h
	}
	return res
}

// usageError marks a cobra flag or argument error.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// UsageErrorf is a bad-usage error (exit 2) for a command defined outside
// this package (a provider's own verbs).
func UsageErrorf(format string, args ...any) error { return usageErrorf(format, args...) }

// errorClass names an error's category for json output.
func errorClass(err error) string {
	classes := []struct {
		err  error
		name string
	}{
		{core.ErrInvalidInput, "UserInputError"}, {core.ErrNotFound, "NotFoundError"},
		{core.ErrConflict, "ConflictError"}, {core.ErrUnavailable, "ProviderUnavailableError"},
		{core.ErrUnauthorized, "ProviderNotAuthorizedError"}, {core.ErrQuotaExceeded, "QuotaExceededError"},
		{core.ErrCapacity, "CapacityError"}, {core.ErrTimeout, "TimeoutError"},
		{core.ErrHostOffline, "HostOfflineError"}, {core.ErrNotSupported, "NotSupportedError"},
		{core.ErrProcessesRemain, "ProcessesRemainError"}, {core.ErrStateRemains, "LocalStateRemainsError"},
	}
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if isUsageError(err) {
		return "UsageError"
	}
	return "MngrError"
}

// NewRootCmd builds the mngr command tree.
func NewRootCmd(f *Factory, groups ...GroupFunc) *cobra.Command {
	root := &cobra.Command{
		Use:           "mngr",
		Short:         "Create and manage AI coding agents, locally or on cloud hosts",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       buildVersion(),
		// Args turns a word that names no command into a usage error
		// (cobra's own check would make it a plain error, exit 1).
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return core.WithHint(usageErrorf("unknown command %q", args[0]), "run 'mngr --help' to see the commands")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if f.global.verbose > 0 {
				// -v: every ARM request and host command, one line each.
				core.SetDebugOutput(f.IO.ErrOut)
			} else {
				core.SetDebugOutput(nil)
			}
			if err := validateFormat(f.global.format); err != nil {
				return err
			}
			if err := applyConfiguredFlags(f, cmd); err != nil {
				return err
			}
			// Progress is set up here, once, for every command: the verbs
			// and everything below them report through core.ProgressFrom.
			cmd.SetContext(core.WithProgress(cmd.Context(), NewProgress(f.IO, f.Format(), f.Quiet())))
			return nil
		},
	}
	root.SetVersionTemplate("mngr {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&f.global.format, "format", string(FormatHuman), "output format: human, json or jsonl")
	pf.BoolVarP(&f.global.quiet, "quiet", "q", false, "print only results, no progress")
	pf.CountVarP(&f.global.verbose, "verbose", "v", "log each Azure request and each command run on a host (this machine included) on stderr, one line each")
	pf.StringArrayVarP(&f.global.settings, "setting", "S", nil, "override a setting: -S k.e.y=VALUE (VALUE is JSON, else a string)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	root.AddCommand(
		newCmdCreate(f, nil), newCmdList(f, nil), newCmdExec(f, nil), newCmdConnect(f, nil),
		newCmdStop(f, nil), newCmdStart(f, nil), newCmdDestroy(f, nil), newCmdGC(f, nil), newCmdConfig(f),
	)
	root.AddCommand(newCmdSSHConfig(f, nil), newCmdGit(f, nil), newCmdRsync(f, nil))
	root.AddCommand(newCmdMessage(f, nil), newCmdCapture(f, nil), newCmdTranscript(f, nil), newCmdWait(f, nil))
	root.AddCommand(newCmdLabel(f, nil), newCmdRename(f, nil), newCmdLimit(f, nil), newCmdCleanup(f, nil))
	for _, g := range groups {
		if c := g(f); c != nil {
			root.AddCommand(c)
		}
	}
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	f.commandFlags = commandFlagsOf(root)
	return root
}

// wrapArgs turns cobra's argument-count errors into usage errors.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return &usageError{err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// isTerminal reports whether f is a terminal (a tty, not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlReadTermios)
	return err == nil
}
