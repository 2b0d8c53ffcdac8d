package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type transcriptOptions struct {
	f *Factory

	Agent string
	Tail  int
	Head  int
	Roles []string
}

func newCmdTranscript(f *Factory, runF func(*transcriptOptions) error) *cobra.Command {
	opts := &transcriptOptions{f: f}
	cmd := &cobra.Command{
		Use:   "transcript AGENT",
		Short: "Print an agent's conversation from its CLI's own session record",
		Long: `Print the turns of the agent's conversation, oldest first, read from the
agent CLI's own session record on its host: for claude its session
transcript (<config dir>/projects/<dir>/<session id>.jsonl), for codex its
rollout files (<CODEX_HOME>/sessions/…). Each turn has a role: user (what
was sent to it), assistant (what the model answered) or tool (a tool call
with its input, or a tool's result). Agents of other types keep no
transcript; see their screen with mngr capture. The host must be running.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeAgentNames(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agent = args[0]
			if opts.Tail < 0 || opts.Head < 0 {
				return usageErrorf("--tail and --head take a number of turns (0 or more)")
			}
			if opts.Tail > 0 && opts.Head > 0 {
				return usageErrorf("give one of --tail and --head")
			}
			for _, r := range opts.Roles {
				if r != core.RoleUser && r != core.RoleAssistant && r != core.RoleTool {
					return usageErrorf("--role is one of user, assistant, tool (not %q)", r)
				}
			}
			if runF != nil {
				return runF(opts)
			}
			return runTranscript(cmd.Context(), opts)
		},
		Example: `  # The whole conversation
  mngr transcript my-agent

  # The last three things the agent said, as JSON lines
  mngr transcript my-agent --role assistant --tail 3 --format jsonl`,
	}
	cmd.Flags().IntVar(&opts.Tail, "tail", 0, "only the last N turns (after --role)")
	cmd.Flags().IntVar(&opts.Head, "head", 0, "only the first N turns (after --role)")
	cmd.Flags().StringArrayVar(&opts.Roles, "role", nil, "only turns of this role: user, assistant or tool (repeatable)")
	return cmd
}

// selectTurns keeps the turns of the given roles (all when none), then the
// first head or last tail of them.
func selectTurns(entries []core.TranscriptEntry, roles []string, head, tail int) []core.TranscriptEntry {
	out := []core.TranscriptEntry{}
	for _, e := range entries {
		keep := len(roles) == 0
		for _, r := range roles {
			keep = keep || e.Role == r
		}
		if keep {
			out = append(out, e)
		}
	}
	if head > 0 && len(out) > head {
		out = out[:head]
	}
	if tail > 0 && len(out) > tail {
		out = out[len(out)-tail:]
	}
	return out
}

func runTranscript(ctx context.Context, opts *transcriptOptions) error {
	f := opts.f
	format := f.Format()
	ctx = core.WithProgress(ctx, NewProgress(f.IO, format, f.Quiet()))
	r, h, err := reachOneRunning(ctx, f, opts.Agent)
	if err != nil {
		return err
	}
	entries, err := core.ReadTranscript(ctx, h, r.Record)
	if err != nil {
		return err
	}
	entries = selectTurns(entries, opts.Roles, opts.Head, opts.Tail)
	name := r.Record.Name
	events := make([]any, 0, len(entries))
	for _, e := range entries {
		events = append(events, map[string]any{"event": "turn", "agent": name, "time": e.Time, "role": e.Role, "tool": e.Tool, "text": e.Text})
	}
	return Emit(f.IO, format, func(w io.Writer) error {
		var b strings.Builder
		for _, e := range entries {
			who := e.Role
			if e.Tool != "" {
				who += " " + e.Tool
			}
			stamp := ""
			if !e.Time.IsZero() {
				stamp = e.Time.Local().Format("15:04:05") + " "
			}
			fmt.Fprintf(&b, "%s[%s] %s\n", stamp, who, e.Text)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}, map[string]any{"agent": name, "turns": entries}, events)
}
