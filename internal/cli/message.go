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
		Short:   "Send a message to agents and confirm that they took it",
		Long: `Type TEXT into each agent's tmux pane (window 0), press Enter, and wait for
evidence that the agent took it: for claude a user turn with the text in
its session transcript, for codex in its session record, for other types
the text showing in the pane (best effort: a pane also shows text a program
never read). While a claude or codex agent shows no evidence, Enter is
pressed again (at most 3 times, in case the text sits unsent in the input);
the wait is bounded by
message_confirm_timeout (seconds, default 90). A message that is never
confirmed fails with the pane's last lines.

A short line is typed as it is; text with several lines, or a line over
4 KB, is sent as one paste through a tmux buffer (bracketed paste for agent
CLIs that ask for it), so it is not submitted line by line. Trailing
newlines are dropped. The text travels to the host on stdin, never on a
command line.

An agent whose CLI is not running (DONE: its pane holds a bare shell) gets
nothing: the text would run as shell commands there. Start it again with
mngr start AGENT.

A stopped agent fails with a hint to start it, unless --start is given: then
its host and the agent are started first, and the message waits until the
agent is ready (at most agent_ready_timeout seconds, default 10).
The exit code is 1 when any agent's message was not sent or not confirmed.`,
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Agents = append(append([]string(nil), args...), agentFlags...)
			if opts.MessageFile == "-" && containsStr(opts.Agents, "-") {
				return usageErrorf("stdin can give the agent names ('-') or the text (--message-file -), not both")
			}
			var err error
			if opts.Agents, err = namesFromArgs(cmd, opts.Agents); err != nil {
				return err
			}
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
	Agent     string `json:"agent"`
	Success   bool   `json:"success"`
	Confirmed bool   `json:"confirmed"`
	// Evidence is what confirmed it: transcript, session record or pane.
	Evidence     string `json:"evidence"`
	EntersResent int    `json:"enters_resent"`
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
	cfg, err := f.Config()
	if err != nil {
		return err
	}
	readyTimeout, confirmTimeout := cfg.AgentReadyTimeout, cfg.MessageConfirmTimeout
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
		var d core.Delivery
		if err == nil {
			name = refs[i].Record.Name
			if d, err = sendOne(ctx, &refs[i], prefix, text, opts.Start, readyTimeout, confirmTimeout); err != nil {
				err = fmt.Errorf("message agent %s: %w", name, err)
			}
		}
		if err != nil {
			fl := messageFailure{Agent: name, Error: core.Describe(err), Hint: core.HintOf(err)}
			failures = append(failures, fl)
			ev := map[string]any{"event": "message_error", "agent": name, "error": fl.Error, "confirmed": false}
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
		results = append(results, messageResult{Agent: name, Success: true, Confirmed: d.Confirmed, Evidence: d.Evidence, EntersResent: d.EntersResent})
		events = append(events, map[string]any{"event": "message_sent", "agent": name, "success": true, "confirmed": d.Confirmed, "evidence": d.Evidence})
		if human && !f.Quiet() {
			if d.Evidence == "pane" {
				logf(f.IO.ErrOut, "Message sent to agent %s (seen in its pane; best effort for a %s agent)\n", name, refs[i].Record.Type)
			} else {
				logf(f.IO.ErrOut, "Message sent to agent %s (confirmed in its %s)\n", name, d.Evidence)
			}
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

// sendOne delivers text to one agent and waits for its confirmation (see
// core.DeliverMessage); with start, a stopped host and agent are started
// first and the agent gets until readyTimeout to be ready.
func sendOne(ctx context.Context, r *agentRef, prefix, text string, start bool, readyTimeout, confirmTimeout time.Duration) (core.Delivery, error) {
	h, err := r.Reach(ctx, start)
	if err != nil {
		return core.Delivery{}, err
	}
	if start && !r.State.Running() {
		done := core.ProgressFrom(ctx).Step(fmt.Sprintf("starting agent %s", r.Record.Name))
		var err error
		if r.State == core.AgentDone {
			// Its CLI exited: the leftover session goes, so the start runs it again.
			err = core.StopAgent(ctx, h, prefix, r.Record)
		}
		if err == nil {
			err = core.StartAgent(ctx, h, prefix, r.Record)
		}
		if err == nil {
			err = core.WaitAgentReady(ctx, h, prefix, r.Record, readyTimeout)
		}
		done(err)
		if err != nil {
			return core.Delivery{}, err
		}
	}
	return core.DeliverMessage(ctx, h, prefix, r.Record, text, confirmTimeout)
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
