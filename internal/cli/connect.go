package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type connectOptions struct {
	f *Factory

	Agent string
	Start bool

	// execFn replaces the process with argv; tests capture it.
	execFn func(argv []string) error
	// getenv reads $TMUX; tests replace it.
	getenv func(string) string
	// runSession runs a remote (ssh) session to its end and returns its exit
	// status; tests replace it.
	runSession func(ctx context.Context, argv []string) (int, error)
	// sleep waits between retries; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func newCmdConnect(f *Factory, runF func(*connectOptions) error) *cobra.Command {
	opts := &connectOptions{f: f, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:     "connect AGENT",
		Aliases: []string{"conn"},
		Short:   "Attach to an agent's tmux session",
		Long: `Attach to an agent's tmux session. Local agents are attached in place; for
agents on cloud hosts mngr runs ssh, and retries a session that fails to
connect (ssh exit status 255) retry.connect_retry_times times (default 3),
retry.connect_retry_delay apart (default "5s").`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeAgentNames(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agent = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runConnect(cmd.Context(), opts)
		},
		Example: `  # Attach to an agent's tmux session (detach with C-b d)
  mngr connect my-agent

  # Fail instead of starting the agent's host when it is stopped
  mngr connect my-agent --start=false

  # Retry a session that fails to connect 5 times, 10 seconds apart
  mngr connect my-agent -S retry.connect_retry_times=5 -S retry.connect_retry_delay=10s`,
	}
	cmd.Flags().BoolVar(&opts.Start, "start", true, "start the agent's host (and the agent) if it is stopped")
	return cmd
}

// connectArgv resolves the agent and builds the argv that attaches to it.
func connectArgv(ctx context.Context, opts *connectOptions) ([]string, bool, error) {
	f := opts.f
	cfg, err := f.Config()
	if err != nil {
		return nil, false, err
	}
	refs, err := resolveAgents(ctx, f, []string{opts.Agent})
	if err != nil {
		return nil, false, err
	}
	r := refs[0]
	local := core.CapabilitiesOf(r.Provider).HostIsThisMachine
	if local && opts.getenv("TMUX") != "" && !cfg.IsNestedTmuxAllowed {
		return nil, false, core.WithHint(fmt.Errorf("cannot connect from inside tmux: %w", core.ErrInvalidInput),
			"detach first, or allow it with: mngr config set is_nested_tmux_allowed true --scope user")
	}
	h, err := r.Reach(ctx, opts.Start)
	if err != nil {
		return nil, false, err
	}
	if !r.State.Running() {
		if !opts.Start {
			// tmux would only say "can't find session".
			return nil, false, core.WithHint(fmt.Errorf("agent %s is not running: %w", r.Record.Name, core.ErrHostOffline),
				"start it: mngr start %s (or leave out --start=false)", r.Record.Name)
		}
		if err := core.StartAgent(ctx, h, h.Prefix(), r.Record); err != nil {
			return nil, false, fmt.Errorf("start agent %q: %w", r.Record.Name, err)
		}
	}
	return h.Exec.InteractiveArgv(core.AttachScript(h, h.Prefix(), r.Record)), local, nil
}

func runConnect(ctx context.Context, opts *connectOptions) error {
	if opts.execFn == nil && opts.runSession == nil && (!opts.f.IO.InIsTerminal || !opts.f.IO.OutIsTerminal) {
		// tmux would only say "open terminal failed: not a terminal".
		return core.WithHint(fmt.Errorf("connect to agent %s needs a terminal, and stdin or stdout is not one: %w", opts.Agent, core.ErrInvalidInput),
			"run it from a terminal; to see the agent's screen without one: mngr capture %s", opts.Agent)
	}
	argv, local, err := connectArgv(ctx, opts)
	if err != nil {
		return err
	}
	if opts.execFn != nil {
		return opts.execFn(argv)
	}
	if local {
		return execArgv(argv, local)
	}
	policy, err := connectRetryPolicy(opts.f)
	if err != nil {
		return err
	}
	return runSessionWithRetries(ctx, opts, argv, policy)
}

// Defaults of the retry settings.
const (
	defaultConnectRetryTimes = 3
	defaultConnectRetryDelay = 5 * time.Second
	// sshFailedStatus is the exit status ssh uses for its own errors
	// (connection refused, reset, authentication); a session that ends
	// with another status ended on the remote side and is not retried.
	sshFailedStatus = 255
	// maxConnectRetryTimes bounds retry.connect_retry_times.
	maxConnectRetryTimes = 100
)

// retryPolicy is how often and how far apart failed sessions are retried.
type retryPolicy struct {
	Times int
	Delay time.Duration
}

// connectRetryPolicy reads retry.connect_retry_times and
// retry.connect_retry_delay from the config.
func connectRetryPolicy(f *Factory) (retryPolicy, error) {
	p := retryPolicy{Times: defaultConnectRetryTimes, Delay: defaultConnectRetryDelay}
	cfg, err := f.Config()
	if err != nil {
		return p, err
	}
	if v, ok := cfg.Get("retry.connect_retry_times"); ok {
		n, err := settingInt(v)
		if err != nil || n < 0 || n > maxConnectRetryTimes {
			return p, core.WithHint(fmt.Errorf("setting retry.connect_retry_times = %v: want a whole number from 0 to %d: %w", v, maxConnectRetryTimes, core.ErrInvalidInput),
				"fix it with: mngr config set retry.connect_retry_times 3")
		}
		p.Times = n
	}
	if v, ok := cfg.Get("retry.connect_retry_delay"); ok {
		d, err := settingDuration(v)
		if err != nil || d < 0 || d > time.Hour {
			return p, core.WithHint(fmt.Errorf("setting retry.connect_retry_delay = %v: want a duration such as \"5s\" (or seconds), at most 1h: %w", v, core.ErrInvalidInput),
				"fix it with: mngr config set retry.connect_retry_delay 5s")
		}
		p.Delay = d
	}
	return p, nil
}

func settingInt(v any) (int, error) {
	switch x := v.(type) {
	case int64:
		return int(x), nil
	case int:
		return x, nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
			return 0, fmt.Errorf("not a whole number: %v", x)
		}
		return int(x), nil
	case string:
		return strconv.Atoi(strings.TrimSpace(x))
	}
	return 0, fmt.Errorf("unexpected type %T", v)
}

func settingDuration(v any) (time.Duration, error) {
	switch x := v.(type) {
	case int64:
		return time.Duration(x) * time.Second, nil
	case int:
		return time.Duration(x) * time.Second, nil
	case float64:
		if math.Abs(x) > 1e6 {
			return 0, fmt.Errorf("too large: %v", x)
		}
		return time.Duration(x * float64(time.Second)), nil
	case string:
		s := strings.TrimSpace(x)
		if secs, err := strconv.ParseFloat(s, 64); err == nil {
			return settingDuration(secs)
		}
		return time.ParseDuration(s)
	}
	return 0, fmt.Errorf("unexpected type %T", v)
}

// runSessionWithRetries runs the ssh session argv; a session that fails to
// connect is retried up to policy.Times times with a note on stderr. Another
// non-zero status becomes mngr's exit status.
func runSessionWithRetries(ctx context.Context, opts *connectOptions, argv []string, policy retryPolicy) error {
	run := opts.runSession
	if run == nil {
		run = runInteractive
	}
	sleep := opts.sleep
	if sleep == nil {
		sleep = core.Sleep
	}
	errOut := opts.f.IO.ErrOut
	for attempt := 0; ; attempt++ {
		status, err := run(ctx, argv)
		if err != nil {
			return err
		}
		switch {
		case status == 0:
			return nil
		case status != sshFailedStatus:
			return &exitError{code: ExitCode(status), err: fmt.Errorf("session of agent %s ended with status %d", opts.Agent, status), printed: true}
		case attempt >= policy.Times:
			return core.WithHint(fmt.Errorf("connect to agent %s: ssh failed %d time(s): %w", opts.Agent, attempt+1, core.ErrUnavailable),
				"check the host with 'mngr list'; raise retry.connect_retry_times to try longer")
		}
		logf(errOut, "ssh session to agent %s failed (exit status %d); retrying in %s (retry %d of %d)\n",
			opts.Agent, status, policy.Delay, attempt+1, policy.Times)
		if err := sleep(ctx, policy.Delay); err != nil {
			return fmt.Errorf("connect to agent %s: %w", opts.Agent, err)
		}
	}
}

// runInteractive runs argv on the terminal and returns its exit status. The
// session outlives an interrupt of mngr (ssh -t forwards it to the remote).
func runInteractive(ctx context.Context, argv []string) (int, error) {
	if len(argv) == 0 {
		return 0, fmt.Errorf("connect: empty command: %w", core.ErrInvalidInput)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, core.WithHint(fmt.Errorf("find %s: %w", argv[0], err), "install %s", argv[0])
	}
	//nolint:gosec // G204: argv is built by the executor from mngr's own attach script.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return 0, nil
}

// completeAgentNames completes agent names for shell completion, from every
// active provider (bounded to a few seconds; unreachable providers add none).
// With limit > 0, nothing is offered once limit agents are named.
func completeAgentNames(f *Factory, limit int) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if limit > 0 && len(args) >= limit {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		refs, _, err := gatherAgents(ctx, f, nil, func(string) {})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		seen := map[string]bool{}
		for _, a := range args {
			seen[a] = true
		}
		var names []string
		for _, r := range refs {
			n := r.Record.Name
			if !seen[n] && strings.HasPrefix(n, toComplete) {
				seen[n] = true
				names = append(names, n)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// execArgv replaces mngr with argv (tmux attach, or ssh -t), so the terminal
// belongs to the agent.
func execArgv(argv []string, _ bool) error {
	if len(argv) == 0 {
		return fmt.Errorf("connect: empty command: %w", core.ErrInvalidInput)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return core.WithHint(fmt.Errorf("find %s: %w", argv[0], err), "install %s", argv[0])
	}
	//nolint:gosec // G204: argv is built by the executor from mngr's own attach script.
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", argv[0], err)
	}
	return nil
}
