package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type captureOptions struct {
	f *Factory

	Agent string
	Full  bool
}

func newCmdCapture(f *Factory, runF func(*captureOptions) error) *cobra.Command {
	opts := &captureOptions{f: f}
	cmd := &cobra.Command{
		Use:   "capture AGENT",
		Short: "Print what an agent's terminal shows",
		Long: `Print the text of the agent's tmux pane (window 0) to stdout: the visible
screen, or with --full its whole scrollback too. Blank rows below the last
written line are left out. The host must be running (this never starts it).`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeAgentNames(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agent = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runCapture(cmd.Context(), opts)
		},
		Example: `  # What is my agent doing?
  mngr capture my-agent

  # Its whole scrollback, as JSON ({"agent","content"})
  mngr capture my-agent --full --format json`,
	}
	cmd.Flags().BoolVar(&opts.Full, "full", false, "include the whole scrollback, not only the visible screen")
	return cmd
}

func runCapture(ctx context.Context, opts *captureOptions) error {
	f := opts.f
	format := f.Format()
	ctx = core.WithProgress(ctx, NewProgress(f.IO, format, f.Quiet()))
	r, h, err := reachOneRunning(ctx, f, opts.Agent)
	if err != nil {
		return err
	}
	content, err := core.CapturePane(ctx, h, f.Env().Prefix, r.Record, opts.Full)
	if err != nil {
		return err
	}
	name := r.Record.Name
	return Emit(f.IO, format, func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	}, map[string]any{"agent": name, "content": content},
		[]any{map[string]any{"event": "capture", "agent": name, "content": content}})
}

// reachOneRunning resolves one agent and reaches its host, which must be
// running (read-only verbs never start a host).
func reachOneRunning(ctx context.Context, f *Factory, agent string) (*agentRef, *core.Host, error) {
	refs, err := resolveAgents(ctx, f, []string{agent})
	if err != nil {
		return nil, nil, err
	}
	r := &refs[0]
	h, err := r.Reach(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	return r, h, nil
}
