package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type execOptions struct {
	f *Factory

	Agents  []string
	Command string
	Start   bool
}

func newCmdExec(f *Factory, runF func(*execOptions) error) *cobra.Command {
	opts := &execOptions{f: f}
	var agentFlags []string
	cmd := &cobra.Command{
		Use:     "exec [AGENT...] COMMAND | exec AGENT... -- COMMAND [ARG...]",
		Aliases: []string{"x"},
		Short:   "Run a shell command in agents' work dirs with their environment",
		Long: `Run COMMAND with sh in each agent's work dir, with the host and agent env
files loaded. The exit code is 1 if the command fails on any agent; the
command's own exit code is not propagated.

Without --, the last argument is the command (one shell command line, so
quote it) and the ones before it are agents. With --, as in docker exec
and kubectl exec, the agents come before it and the command after it: one
word after -- is a shell command line, several are a command and its
arguments, each passed as one word.`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command, opts.Agents = splitExecArgs(args, cmd.ArgsLenAtDash())
			opts.Agents = append(opts.Agents, agentFlags...)
			var err error
			if opts.Agents, err = namesFromArgs(cmd, opts.Agents); err != nil {
				return err
			}
			if opts.Command == "" {
				return usageErrorf("exec needs a command after --, for example: mngr exec NAME -- ls -la")
			}
			if len(opts.Agents) == 0 {
				return usageErrorf("exec needs an agent and a command, for example: mngr exec NAME 'ls'")
			}
			if runF != nil {
				return runF(opts)
			}
			return runExec(cmd.Context(), opts)
		},
		Example: `  # Run a command in one agent's work dir
  mngr exec my-agent 'git status'

  # The same command in two agents
  mngr exec agent-a agent-b 'ls -la'

  # A command and its arguments after --, as with docker exec
  mngr exec my-agent -- ls -la

  # Name the agent with --agent, and fail instead of starting a stopped host
  mngr exec --agent my-agent --start=false 'cat README.md'`,
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		// "mngr exec NAME ls -la" reads -la as mngr's flags.
		return core.WithHint(&usageError{err: err}, "put the command after --, for example: mngr exec NAME -- ls -la")
	})
	cmd.Flags().StringArrayVar(&agentFlags, "agent", nil, "agent to run on (repeatable)")
	cmd.Flags().BoolVar(&opts.Start, "start", true, "start a stopped host first (when the provider can)")
	return cmd
}

// splitExecArgs splits exec's arguments into the command and the agents:
// with -- (dash is its index, -1 without) the agents come before it and the
// command after it; without, the last argument is the command.
func splitExecArgs(args []string, dash int) (command string, agents []string) {
	if dash < 0 {
		return args[len(args)-1], append([]string(nil), args[:len(args)-1]...)
	}
	agents = append([]string(nil), args[:dash]...)
	switch words := args[dash:]; len(words) {
	case 0:
		return "", agents
	case 1:
		return words[0], agents
	default:
		return core.ShellJoin(words), agents
	}
}

type execResult struct {
	Agent   string `json:"agent"`
	Stdout  string `json:"stdout"`
	Stderr  string `json:"stderr"`
	Success bool   `json:"success"`
}

type execFailure struct {
	Agent string `json:"agent"`
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// execResultEvent is the jsonl line of an agent the command ran on.
type execResultEvent struct {
	Event string `json:"event"`
	execResult
}

// execErrorEvent is the jsonl line of an agent the command could not run on.
type execErrorEvent struct {
	Event string `json:"event"`
	execFailure
}

// execSummary is exec's JSON result.
type execSummary struct {
	Results       []execResult  `json:"results"`
	FailedAgents  []execFailure `json:"failed_agents"`
	TotalExecuted int           `json:"total_executed"`
	TotalFailed   int           `json:"total_failed"`
}

func runExec(ctx context.Context, opts *execOptions) error {
	f := opts.f
	format := f.Format()
	refs, err := resolveAgents(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	results := []execResult{}
	failures := []execFailure{}
	var events []any
	human := format == FormatHuman
	for i := range refs {
		r := &refs[i]
		name := r.Record.Name
		if human && len(refs) > 1 {
			logf(f.IO.Out, "--- %s ---\n", name)
		}
		h, err := r.Reach(ctx, opts.Start)
		if err != nil {
			fl := execFailure{Agent: name, Error: core.Describe(fmt.Errorf("agent %s: %w", name, err)), Hint: core.HintOf(err)}
			failures = append(failures, fl)
			events = append(events, execErrorEvent{Event: "exec_error", execFailure: fl})
			if human {
				writeFailures(f.IO.ErrOut, []core.Failure{{Message: fl.Error, Hint: fl.Hint}})
			}
			continue
		}
		var ro core.RunOptions
		if human {
			ro.Stdout, ro.Stderr = f.IO.Out, f.IO.ErrOut
		}
		res, err := h.Exec.Run(ctx, core.ExecScript(h, r.Record, opts.Command), ro)
		if err != nil {
			fl := execFailure{Agent: name, Error: core.Describe(fmt.Errorf("agent %s: %w", name, err)), Hint: core.HintOf(err)}
			failures = append(failures, fl)
			events = append(events, execErrorEvent{Event: "exec_error", execFailure: fl})
			if human {
				writeFailures(f.IO.ErrOut, []core.Failure{{Message: fl.Error, Hint: fl.Hint}})
			}
			continue
		}
		er := execResult{Agent: name, Stdout: res.Stdout, Stderr: res.Stderr, Success: res.OK()}
		results = append(results, er)
		events = append(events, execResultEvent{Event: "exec_result", execResult: er})
		if !res.OK() {
			failures = append(failures, execFailure{Agent: name, Error: fmt.Sprintf("command exited with status %d", res.ExitCode)})
		}
		if human && !f.Quiet() {
			if res.OK() {
				logf(f.IO.ErrOut, "Command succeeded on agent %s\n", name)
			} else {
				logf(f.IO.ErrOut, "Command failed on agent %s (exit status %d)\n", name, res.ExitCode)
			}
		}
	}
	out := execSummary{Results: results, FailedAgents: failures, TotalExecuted: len(results), TotalFailed: len(failures)}
	if err := Emit(f.IO, format, func(io.Writer) error { return nil }, out, events); err != nil {
		return err
	}
	if len(failures) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("command failed on %d agent(s)", len(failures)), printed: true}
	}
	return nil
}
