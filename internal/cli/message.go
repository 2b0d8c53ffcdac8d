package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

// maxMessageBytes bounds a message read from a file or stdin: far above any
// prompt a person writes, small enough that a wrong file (a binary, a log)
// is refused instead of typed into an agent.
const maxMessageBytes = 1 << 20

type messageOptions struct {
	f *Factory

	Agents      []string
	Message     string
	MessageFile string
	Start       bool
}

func newCmdMessage(f *Factory, runF func(*messageOptions) error) *cobra.Command {
	opts := &messageOptions{f: f}
	var agentFlags []string
	cmd := &cobra.Command{
		Use:     "message AGENT... (-m TEXT | --message-file FILE)",
		Aliases: []string{"msg"},
		Short:   "Type a message into agents, as if the user typed it and pressed Enter",
		Long: `Type TEXT into each agent's tmux pane (window 0), then press Enter. One line
is typed as it is; text with several lines is sent as one paste (bracketed
paste for agent CLIs that ask for it), so it is not submitted line by line.
Trailing newlines are dropped. The text travels to the host on stdin, never
on a command line.

A stopped agent fails with a hint to start it, unless --start is given: then
its host and the agent are started first, and the message waits until the
agent is ready (at most agent_ready_timeout seconds, default 10).
The exit code is 1 when any agent could not get the message.`,
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agents = append(append([]string(nil), args...), agentFlags...)
			if len(opts.Agents) == 0 {
				return usageErrorf("message needs an agent, for example: mngr message NAME -m 'hello'")
			}
			if cmd.Flags().Changed("message") == (opts.MessageFile != "") {
				return usageErrorf("give the text with exactly one of -m TEXT or --message-file FILE ('-' reads stdin)")
			}
			if runF != nil {
				return runF(opts)
			}
			return runMessage(cmd.Context(), opts)
		},
		Example: `  # Ask one agent something
  mngr message my-agent -m 'run the tests and fix what fails'

  # The same message to two agents, with several lines from a file
  mngr msg agent-a agent-b --message-file task.md

  # From stdin, starting the agent first if it is stopped
  echo 'status?' | mngr message my-agent --message-file - --start`,
	}
	cmd.Flags().StringVarP(&opts.Message, "message", "m", "", "the text to send")
	cmd.Flags().StringVar(&opts.MessageFile, "message-file", "", "read the text from FILE ('-' for stdin)")
	cmd.Flags().StringArrayVar(&agentFlags, "agent", nil, "agent to send to (repeatable)")
	cmd.Flags().BoolVar(&opts.Start, "start", false, "start a stopped host and agent first, and wait until the agent is ready")
	return cmd
}

type messageResult struct {
	Agent   string `json:"agent"`
	Success bool   `json:"success"`
}

type messageFailure struct {
	Agent string `json:"agent"`
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// messageText reads the text from -m or --message-file.
func messageText(opts *messageOptions) (string, error) {
	if opts.MessageFile == "" {
		return opts.Message, nil
	}
	var r io.Reader
	name := opts.MessageFile
	if name == "-" {
		r, name = opts.f.IO.In, "stdin"
	} else {
		fh, err := os.Open(name) //nolint:gosec // G304: the user names the file to send.
		if err != nil {
			return "", core.WithHint(fmt.Errorf("read message file: %w: %w", err, core.ErrInvalidInput), "check the --message-file path")
		}
		defer func() { _ = fh.Close() }()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, maxMessageBytes+1))
	if err != nil {
		return "", fmt.Errorf("read message from %s: %w", name, err)
	}
	if len(data) > maxMessageBytes {
		return "", core.WithHint(fmt.Errorf("message in %s is over %d bytes: %w", name, maxMessageBytes, core.ErrInvalidInput),
			"send a shorter text, or put the long part in a file in the agent's work dir and point the agent at it")
	}
	return string(data), nil
}

func runMessage(ctx context.Context, opts *messageOptions) error {
	f := opts.f
	format := f.Format()
	ctx = core.WithProgress(ctx, NewProgress(f.IO, format, f.Quiet()))
	text, err := messageText(opts)
	if err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" {
		return core.WithHint(fmt.Errorf("the message is empty: %w", core.ErrInvalidInput),
			"give the text with -m TEXT or --message-file FILE")
	}
	readyTimeout := core.DefaultAgentReadyTimeout
	if opts.Start {
		cfg, err := f.Config()
		if err != nil {
			return err
		}
		readyTimeout = cfg.AgentReadyTimeout
	}
	opts.Agents = uniqueStrings(opts.Agents)
	refs, resolveErrs, err := resolveEachAgent(ctx, f, opts.Agents)
	if err != nil {
		return err
	}
	prefix := f.Env().Prefix
	results := []messageResult{}
	failures := []messageFailure{}
	var events []any
	human := format == FormatHuman
	for i := range refs {
		name := opts.Agents[i]
		err := resolveErrs[i]
		if err == nil {
			name = refs[i].Record.Name
			if err = sendOne(ctx, &refs[i], prefix, text, opts.Start, readyTimeout); err != nil {
				err = fmt.Errorf("message agent %s: %w", name, err)
			}
		}
		if err != nil {
			fl := messageFailure{Agent: name, Error: core.Describe(err), Hint: core.HintOf(err)}
			failures = append(failures, fl)
			ev := map[string]any{"event": "message_error", "agent": name, "error": fl.Error}
			if fl.Hint != "" {
				ev["hint"] = fl.Hint
			}
			events = append(events, ev)
			if human {
				logf(f.IO.ErrOut, "Error: %s\n", fl.Error)
				if fl.Hint != "" {
					logf(f.IO.ErrOut, "  %s\n", fl.Hint)
				}
			}
			continue
		}
		results = append(results, messageResult{Agent: name, Success: true})
		events = append(events, map[string]any{"event": "message_sent", "agent": name, "success": true})
		if human && !f.Quiet() {
			logf(f.IO.ErrOut, "Message sent to agent %s\n", name)
		}
	}
	out := map[string]any{"results": results, "failed_agents": failures, "total_sent": len(results), "total_failed": len(failures)}
	if err := Emit(f.IO, format, nil, out, events); err != nil {
		return err
	}
	if len(failures) > 0 {
		return &exitError{code: ExitError, err: fmt.Errorf("message failed for %d agent(s)", len(failures)), printed: true}
	}
	return nil
}

// sendOne delivers text to one agent; with start, a stopped host and agent
// are started first and the agent gets until readyTimeout to be ready.
func sendOne(ctx context.Context, r *agentRef, prefix, text string, start bool, readyTimeout time.Duration) error {
	h, err := r.Reach(ctx, start)
	if err != nil {
		return err
	}
	if start && !r.State.Running() {
		done := core.ProgressFrom(ctx).Step(fmt.Sprintf("starting agent %s", r.Record.Name))
		err := core.StartAgent(ctx, h, prefix, r.Record)
		if err == nil {
			err = core.WaitAgentReady(ctx, h, prefix, r.Record, readyTimeout)
		}
		done(err)
		if err != nil {
			return err
		}
	}
	return core.SendMessage(ctx, h, prefix, r.Record, text)
}

// uniqueStrings is list without repeats, in first-seen order.
func uniqueStrings(list []string) []string {
	var out []string
	for _, s := range list {
		if !containsStr(out, s) {
			out = append(out, s)
		}
	}
	return out
}
