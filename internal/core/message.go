package core

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// exitNoSession is the exit code of scripts/pane.sh when the agent's tmux
// session does not exist (the agent is stopped).
const exitNoSession = 7

// DefaultAgentReadyTimeout is how long WaitAgentReady waits when the
// agent_ready_timeout setting is not set.
const DefaultAgentReadyTimeout = 10 * time.Second

// maxTypedBytes is the longest single-line message typed with send-keys;
// a longer one goes through a tmux buffer (tmux refuses a command over
// about 16 KB).
const maxTypedBytes = 4096

// pasteSettle is the pause between pasting a multi-line message and pressing
// Enter: an agent CLI handles a bracketed paste as one event, and an Enter
// that arrives inside that event's processing can be taken as part of it.
const pasteSettle = 300 * time.Millisecond

// paneError turns a failed pane script into the error the user sees.
func paneError(what string, h *Host, prefix string, rec AgentRecord, res RunResult) error {
	switch res.ExitCode {
	case exitNoSession:
		return WithHint(fmt.Errorf("%s: agent %q on host %q is stopped (no tmux session %s): %w",
			what, rec.Name, h.Name, SessionName(prefix, rec.Name), ErrNotFound), "start it first: mngr start %s", rec.Name)
	case exitNoTmux:
		return WithHint(fmt.Errorf("%s on host %q: tmux is not installed: %w", what, h.Name, ErrUnavailable),
			"install tmux on the host (apt-get install tmux)")
	}
	return fmt.Errorf("%s on host %q failed (exit %d): %s", what, h.Name, res.ExitCode, strings.TrimSpace(res.Stderr))
}

// messageScript (scripts/pane.sh) types the text it reads on stdin into
// window 0 of session sess, then presses Enter. A single line is typed
// literally (send-keys -l), as a user would type it; text with newlines is
// pasted (load-buffer from stdin, then paste-buffer -p), so an agent CLI that
// asked for bracketed paste receives it as one paste and does not submit it
// line by line. The text never appears in the script itself.
func messageScript(sess string, multiline bool) string {
	if multiline {
		return ScriptCall(paneSh, "paste", sess, strconv.FormatFloat(pasteSettle.Seconds(), 'f', -1, 64))
	}
	return ScriptCall(paneSh, "type", sess)
}

// SendMessage types text into the agent's pane (window 0 of tmux session
// <prefix><name>) and presses Enter, on any host: the text reaches the host
// on the command's stdin, never in its command line. Trailing newlines are
// dropped (Enter ends the message); a message with newlines inside is sent
// as one bracketed paste, and so is a long line (over maxTypedBytes), which
// would not fit one tmux command. A stopped agent is an ErrNotFound with the start
// command as hint.
func SendMessage(ctx context.Context, h *Host, prefix string, rec AgentRecord, text string) error {
	text = strings.TrimRight(text, "\r\n")
	if strings.TrimSpace(text) == "" {
		return WithHint(fmt.Errorf("message to agent %q is empty: %w", rec.Name, ErrInvalidInput),
			"pass the text with -m TEXT or --message-file FILE")
	}
	if h.Exec == nil {
		return fmt.Errorf("send message on host %q: %w", h.Name, ErrHostOffline)
	}
	script := userActivity(h) + messageScript(SessionName(prefix, rec.Name), strings.ContainsAny(text, "\r\n") || len(text) > maxTypedBytes)
	res, err := h.Exec.Run(ctx, script, RunOptions{Stdin: strings.NewReader(text)})
	if err != nil {
		return fmt.Errorf("send message to agent %q on host %q: %w", rec.Name, h.Name, err)
	}
	if !res.OK() {
		return paneError("send message", h, prefix, rec, res)
	}
	return nil
}

// captureScript (scripts/pane.sh) prints window 0 of session sess; full adds
// the scrollback.
func captureScript(sess string, full bool) string {
	return ScriptCall(paneSh, "capture", sess, flag(full), "0")
}

// flag is a boolean as a script argument: 1 or 0.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// CapturePane returns what the agent's pane (window 0) shows, with the whole
// scrollback when full is set. Blank lines below the last written one are
// dropped, and the text ends with one newline unless it is empty.
func CapturePane(ctx context.Context, h *Host, prefix string, rec AgentRecord, full bool) (string, error) {
	res, err := h.run(ctx, "capture agent "+strconv.Quote(rec.Name), captureScript(SessionName(prefix, rec.Name), full))
	if err != nil {
		return "", err
	}
	if !res.OK() {
		return "", paneError("capture agent "+strconv.Quote(rec.Name), h, prefix, rec, res)
	}
	return trimPane(res.Stdout), nil
}

// trimPane drops the blank lines tmux prints for the unused rows of a pane.
func trimPane(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// Readiness polling: how often the pane is looked at, and how long its
// content must stay the same before a claude or codex agent counts as
// ready (their UI draws for a moment after the process starts).
const (
	readyPoll   = 200 * time.Millisecond
	readySettle = time.Second
)

const markPane = "@@MNGR_PANE"

// readyProbeScript (scripts/pane.sh) prints window 0's first pane (pid and
// command), the process table, and, when withContent is set, the pane's
// content.
func readyProbeScript(sess string, withContent bool) string {
	return ScriptCall(paneSh, "probe", sess, flag(withContent))
}

// readyProbe is one look at the agent's pane.
type readyProbe struct {
	running bool   // the expected process is the pane's command or below it
	content string // the pane's text, when asked for
}

// parseReadyProbe reads readyProbeScript's output for the process want.
func parseReadyProbe(out, want string) readyProbe {
	head, rest, _ := strings.Cut(out, markPS+"\n")
	psPart, content, _ := strings.Cut(rest, markPane+"\n")
	var p readyProbe
	p.content = content
	f := strings.Fields(strings.TrimSpace(head))
	if len(f) < 1 {
		return p
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return p
	}
	if len(f) > 1 && sameProcess(strings.Join(f[1:], " "), want) {
		p.running = true
		return p
	}
	var procs []procInfo
	for _, line := range strings.Split(psPart, "\n") {
		pf := strings.Fields(line)
		if len(pf) < 3 {
			continue
		}
		cpid, err1 := strconv.Atoi(pf[0])
		ppid, err2 := strconv.Atoi(pf[1])
		if err1 == nil && err2 == nil {
			procs = append(procs, procInfo{pid: cpid, ppid: ppid, comm: strings.Join(pf[2:], " ")})
		}
	}
	for _, d := range descendants(pid, procs) {
		if sameProcess(d.comm, want) {
			p.running = true
			break
		}
	}
	return p
}

// settles says whether an agent type draws a UI after starting, so that
// readiness also waits for its pane to stop changing.
func settles(agentType string) bool { return agentType == "claude" || agentType == "codex" }

// WaitAgentReady waits until the agent can take a message: its expected
// process shows in window 0 (the pane's command or one of its
// descendants), and for claude and codex also until the pane's content has
// stayed the same for a second. It gives up after timeout (the
// agent_ready_timeout setting; DefaultAgentReadyTimeout when zero) with an
// ErrTimeout naming that setting.
func WaitAgentReady(ctx context.Context, h *Host, prefix string, rec AgentRecord, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultAgentReadyTimeout
	}
	want := expectedProcess(rec.Type, rec.Command)
	settle := settles(rec.Type)
	script := readyProbeScript(SessionName(prefix, rec.Name), settle)
	what := "wait for agent " + strconv.Quote(rec.Name)
	deadline := time.Now().Add(timeout)
	var (
		last      string
		stableFor time.Time // when the content last changed
		seen      bool      // the process showed at least once
	)
	for {
		res, err := h.run(ctx, what, script)
		if err != nil {
			return err
		}
		if !res.OK() {
			return paneError(what, h, prefix, rec, res)
		}
		p := parseReadyProbe(res.Stdout, want)
		now := time.Now()
		if want == "" {
			p.running = true // nothing to look for: the session is enough
		}
		if p.running {
			seen = true
			if !settle {
				return nil
			}
			if stableFor.IsZero() || p.content != last {
				last, stableFor = p.content, now
			} else if now.Sub(stableFor) >= readySettle {
				return nil
			}
		} else {
			stableFor = time.Time{}
		}
		if now.After(deadline) {
			why := fmt.Sprintf("process %q did not show in its pane", want)
			if seen {
				why = "its screen was still changing"
			}
			return WithHint(fmt.Errorf("agent %q on host %q was not ready within %s (%s): %w", rec.Name, h.Name, timeout, why, ErrTimeout),
				"see what it shows with 'mngr capture %s'; if it is only slow to start, raise the wait: mngr config set agent_ready_timeout %d",
				rec.Name, int(2*timeout.Seconds()+0.5))
		}
		if err := Sleep(ctx, readyPoll); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}
