package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

// waitPoll is how often wait looks at the agents' states.
const waitPoll = time.Second

type waitOptions struct {
	f *Factory

	Agents  []string
	States  []core.AgentState
	Timeout time.Duration
}

func newCmdWait(f *Factory, runF func(*waitOptions) error) *cobra.Command {
	opts := &waitOptions{f: f}
	var states []string
	cmd := &cobra.Command{
		Use:   "wait AGENT... --state STATE",
		Short: "Wait until agents reach a state (RUNNING, WAITING, DONE, …)",
		Long: `Block until each agent is in one of the given states, as mngr list shows
them, looking once a second: RUNNING (working on a prompt), WAITING (at its
prompt or on a dialog, waiting for you), DONE (its CLI exited), STOPPED,
REPLACED. For scripts: send a task, wait for WAITING, then pull the branch.

The exit code is 0 when every agent got there, and 1 when --timeout (a
duration such as 90s or 10m; default 30m) ran out first, with each agent's
last state.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agents = args
			if len(states) == 0 {
				return usageErrorf("wait needs --state, for example: mngr wait %s --state WAITING", args[0])
			}
			for _, s := range states {
				st := core.AgentState(strings.ToUpper(strings.TrimSpace(s)))
				switch st {
				case core.AgentRunning, core.AgentWaiting, core.AgentDone, core.AgentStopped, core.AgentReplaced, core.AgentRunningUnknownAgentType:
				default:
					return usageErrorf("--state is one of RUNNING, WAITING, DONE, STOPPED, REPLACED, RUNNING_UNKNOWN_AGENT_TYPE (not %q)", s)
				}
				opts.States = append(opts.States, st)
			}
			if opts.Timeout <= 0 {
				return usageErrorf("--timeout must be a positive duration, such as 90s or 10m")
			}
			if runF != nil {
				return runF(opts)
			}
			return runWait(cmd.Context(), opts)
		},
		Example: `  # After sending a task: wait until the agent is done with it
  mngr wait my-agent --state WAITING --timeout 20m

  # Wait until two agents' CLIs have exited
  mngr wait a b --state DONE`,
	}
	cmd.Flags().StringArrayVar(&states, "state", nil, "state to wait for (repeatable: any of them will do)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Minute, "give up after this long")
	return cmd
}

type waitResult struct {
	Agent   string          `json:"agent"`
	State   core.AgentState `json:"state"`
	Reached bool            `json:"reached"`
}

func runWait(ctx context.Context, opts *waitOptions) error {
	f := opts.f
	format := f.Format()
	ctx = core.WithProgress(ctx, NewProgress(f.IO, format, f.Quiet()))
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	want := func(s core.AgentState) bool {
		for _, w := range opts.States {
			if s == w {
				return true
			}
		}
		return false
	}
	results := make([]waitResult, len(refs))
	for i, r := range refs {
		results[i] = waitResult{Agent: r.Record.Name, State: r.State, Reached: want(r.State)}
	}
	deadline := time.Now().Add(opts.Timeout)
	for {
		pending := false
		hosts := map[core.HostID][]core.AgentStatus{}
		for i := range refs {
			if results[i].Reached {
				continue
			}
			pending = true
			r := &refs[i]
			sts, ok := hosts[r.Host.ID]
			if !ok {
				h, err := r.Reach(ctx, false)
				if err != nil {
					return fmt.Errorf("wait for agent %q: %w", r.Record.Name, err)
				}
				if sts, err = core.ListAgents(ctx, h, h.Prefix()); err != nil {
					return fmt.Errorf("wait for agent %q: %w", r.Record.Name, err)
				}
				hosts[r.Host.ID] = sts
			}
			for _, s := range sts {
				if s.Record.ID == r.Record.ID {
					results[i].State = s.State
					results[i].Reached = want(s.State)
				}
			}
		}
		if !pending || time.Now().After(deadline) {
			break
		}
		if err := core.Sleep(ctx, waitPoll); err != nil {
			return fmt.Errorf("wait: %w", err)
		}
	}
	var late []string
	events := make([]any, 0, len(results))
	for _, r := range results {
		if !r.Reached {
			late = append(late, fmt.Sprintf("%s is %s", r.Agent, r.State))
		}
		events = append(events, map[string]any{"event": "wait", "agent": r.Agent, "state": r.State, "reached": r.Reached})
	}
	if err := Emit(f.IO, format, func(w io.Writer) error {
		var b strings.Builder
		for _, r := range results {
			fmt.Fprintf(&b, "%s %s\n", r.Agent, r.State)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}, map[string]any{"results": results}, events); err != nil {
		return err
	}
	if len(late) > 0 {
		return core.WithHint(fmt.Errorf("wait timed out after %s: %s: %w", opts.Timeout, strings.Join(late, ", "), core.ErrTimeout),
			"see what they show with mngr capture AGENT, or wait longer with --timeout")
	}
	return nil
}
