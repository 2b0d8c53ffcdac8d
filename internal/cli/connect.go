package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

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
}

func newCmdConnect(f *Factory, runF func(*connectOptions) error) *cobra.Command {
	opts := &connectOptions{f: f, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:     "connect AGENT",
		Aliases: []string{"conn"},
		Short:   "Attach to an agent's tmux session",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agent = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runConnect(cmd.Context(), opts)
		},
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
	local := isLocal(f, r.ProviderName)
	if local && opts.getenv("TMUX") != "" && !cfg.IsNestedTmuxAllowed {
		return nil, false, core.WithHint(fmt.Errorf("cannot connect from inside tmux: %w", core.ErrInvalidInput),
			"detach first, or allow it with: mngr config set is_nested_tmux_allowed true --scope user")
	}
	h, err := onlineHost(ctx, &r, opts.Start)
	if err != nil {
		return nil, false, err
	}
	prefix := f.Env().Prefix
	if !agentIsRunning(r.State) && opts.Start {
		if err := core.StartAgent(ctx, h, prefix, r.Record); err != nil {
			return nil, false, fmt.Errorf("start agent %q: %w", r.Record.Name, err)
		}
	}
	return h.Exec.InteractiveArgv(core.AttachScript(h, prefix, r.Record)), local, nil
}

func runConnect(ctx context.Context, opts *connectOptions) error {
	ctx = core.WithProgress(ctx, NewProgress(opts.f.IO, opts.f.Format(), opts.f.Quiet()))
	argv, local, err := connectArgv(ctx, opts)
	if err != nil {
		return err
	}
	if opts.execFn != nil {
		return opts.execFn(argv)
	}
	return execArgv(argv, local)
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
