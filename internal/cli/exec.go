package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type execOptions struct {
	f *Factory

	Agents  []string
	Command string
	Start   bool
	// Cwd is --cwd: relative to the work dir, or absolute.
	Cwd string
	// Timeout is --timeout as typed (30s, 5m, 1h, or seconds); timeout is
	// its value.
	Timeout string
	timeout time.Duration
	// Stream passes the output on as it comes (jsonl: an output event per
	// line) instead of after each agent's command ends.
	Stream bool
	// OnError is "continue" (run on every agent) or "abort" (stop at the
	// first agent the command fails on, or cannot run on).
	OnError string
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
			if opts.Timeout != "" {
				d, err := core.ParseTimeout(opts.Timeout)
				if err != nil {
					return err
				}
				opts.timeout = d
			}
			if opts.OnError != "continue" && opts.OnError != "abort" {
				return usageErrorf("--on-error %q: use continue or abort", opts.OnError)
			}
			if opts.Stream && opts.f.Format() == FormatJSON {
				return core.WithHint(usageErrorf("--stream cannot be used with --format json (one object at the end)"), "use --format jsonl for an output event per line as it comes")
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
  mngr exec --agent my-agent --start=false 'cat README.md'

  # A long build: its output as it comes, in a sub-directory, stopped after 20 minutes
  mngr exec my-agent --stream --cwd web --timeout 20m -- npm run build

  # A migration agent by agent, stopping at the first that fails
  mngr exec api-1 api-2 api-3 --on-error abort -- make migrate`,
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		// "mngr exec NAME ls -la" reads -la as mngr's flags.
		return core.WithHint(&usageError{err: err}, "put the command after --, for example: mngr exec NAME -- ls -la")
	})
	cmd.Flags().StringArrayVar(&agentFlags, "agent", nil, "agent to run on (repeatable)")
	cmd.Flags().BoolVar(&opts.Start, "start", true, "start a stopped host first (when the provider can)")
	cmd.Flags().StringVar(&opts.Cwd, "cwd", "", "run in this directory (relative to the agent's work dir, or absolute) instead of the work dir")
	cmd.Flags().StringVar(&opts.Timeout, "timeout", "", "stop the command after this long (30s, 5m, 1h or seconds): exit status 124")
	cmd.Flags().BoolVar(&opts.Stream, "stream", false, "pass the output on as it comes (jsonl: an output event per line) instead of after each command ends")
	cmd.Flags().StringVar(&opts.OnError, "on-error", "continue", "after the command fails on an agent: continue with the next agents, or abort (the rest are not run, and are named)")
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
	timedOut := false
	failures := []execFailure{}
	var events []any
	human := format == FormatHuman
	for i := range refs {
		// On abort the first failure ends the run: the agents after it
		// are named as not run.
		if opts.OnError == "abort" && len(failures) > 0 {
			for _, rest := range refs[i:] {
				fl := execFailure{Agent: rest.Record.Name, Error: fmt.Sprintf("agent %s: not run: the command failed on agent %s (--on-error abort)", rest.Record.Name, failures[0].Agent),
					Hint: "run it again with --on-error continue to run on every agent"}
				failures = append(failures, fl)
				events = append(events, execErrorEvent{Event: "exec_error", execFailure: fl})
				if human {
					writeFailures(f.IO.ErrOut, []core.Failure{{Message: fl.Error}})
				}
			}
			break
		}
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
		var streams *lineEvents
		var outBuf, errBuf lockedBuf
		switch {
		case human && opts.Stream:
			ro.Stdout, ro.Stderr = f.IO.Out, f.IO.ErrOut
		case format == FormatJSONL && opts.Stream:
			streams = newLineEvents(f.IO.Out, name)
			ro.Stdout = io.MultiWriter(&outBuf, streams.writer("stdout"))
			ro.Stderr = io.MultiWriter(&errBuf, streams.writer("stderr"))
		}
		res, err := core.RunExec(ctx, h, r.Record, core.ExecOptions{Command: opts.Command, Cwd: opts.Cwd, Timeout: opts.timeout}, ro)
		if streams != nil {
			streams.flush()
			res.Stdout, res.Stderr = outBuf.String(), errBuf.String()
		}
		if human && !opts.Stream {
			_, _ = io.WriteString(f.IO.Out, res.Stdout)
			_, _ = io.WriteString(f.IO.ErrOut, res.Stderr)
		}
		if res.ExitCode == core.ExitTimedOut && opts.timeout > 0 {
			timedOut = true
			msg := fmt.Sprintf("agent %s: the command ran longer than --timeout %s and was stopped (exit status %d)", name, opts.timeout, core.ExitTimedOut)
			fl := execFailure{Agent: name, Error: msg, Hint: "raise --timeout, or run it in the agent's tmux session"}
			failures = append(failures, fl)
			er := execResult{Agent: name, Stdout: res.Stdout, Stderr: res.Stderr, Success: false}
			results = append(results, er)
			events = append(events, execResultEvent{Event: "exec_result", execResult: er}, execErrorEvent{Event: "exec_error", execFailure: fl})
			if human {
				writeFailures(f.IO.ErrOut, []core.Failure{{Message: fl.Error, Hint: fl.Hint}})
			}
			continue
		}
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
	if timedOut {
		return &exitError{code: ExitCode(core.ExitTimedOut), err: fmt.Errorf("command timed out on at least one agent"), printed: true}
	}
	if len(failures) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("command failed on %d agent(s)", len(failures)), printed: true}
	}
	return nil
}

// lineEvents writes an agent's output as jsonl "output" events, one per
// line as it comes ({"event":"output","agent","stream","line"}).
type lineEvents struct {
	mu    sync.Mutex
	out   io.Writer
	agent string
	part  map[string]string
}

func newLineEvents(out io.Writer, agent string) *lineEvents {
	return &lineEvents{out: out, agent: agent, part: map[string]string{}}
}

// outputEvent is exec --stream's jsonl line of output.
type outputEvent struct {
	Event  string `json:"event"`
	Agent  string `json:"agent"`
	Stream string `json:"stream"`
	Line   string `json:"line"`
}

type lineWriter struct {
	le     *lineEvents
	stream string
}

func (le *lineEvents) writer(stream string) io.Writer { return lineWriter{le: le, stream: stream} }

func (w lineWriter) Write(p []byte) (int, error) {
	le := w.le
	le.mu.Lock()
	defer le.mu.Unlock()
	buf := le.part[w.stream] + string(p)
	for {
		i := strings.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		if err := writeJSONLine(le.out, outputEvent{Event: "output", Agent: le.agent, Stream: w.stream, Line: buf[:i]}); err != nil {
			return 0, err
		}
		buf = buf[i+1:]
	}
	le.part[w.stream] = buf
	return len(p), nil
}

// flush writes what is left of each stream without a final newline.
func (le *lineEvents) flush() {
	le.mu.Lock()
	defer le.mu.Unlock()
	for _, stream := range []string{"stdout", "stderr"} {
		if rest := le.part[stream]; rest != "" {
			_ = writeJSONLine(le.out, outputEvent{Event: "output", Agent: le.agent, Stream: stream, Line: rest})
			le.part[stream] = ""
		}
	}
}

// lockedBuf is a buffer two copying goroutines may write at once.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
