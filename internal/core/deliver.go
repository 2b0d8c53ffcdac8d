package core

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// DefaultMessageConfirmTimeout is how long DeliverMessage waits for
// evidence that the agent took a message when message_confirm_timeout is
// not set.
const DefaultMessageConfirmTimeout = 90 * time.Second

// Confirmation polling: how often the evidence is looked for, and when
// Enter is pressed again while the text may still sit unsent in the
// agent's input (at most len(enterRetries) times).
var (
	confirmPoll  = 300 * time.Millisecond
	enterRetries = []time.Duration{3 * time.Second, 8 * time.Second, 15 * time.Second}
)

// paneTailLines is how much of the pane an unconfirmed send shows.
const paneTailLines = 15

// Delivery is how a message reached an agent.
type Delivery struct {
	// Confirmed says the evidence was seen: a user turn with the text in
	// the CLI's own session record (claude, codex), or the text in the
	// pane (other types; best effort, as a pane also shows text a program
	// never read).
	Confirmed bool
	// Evidence names what confirmed it: "transcript", "session record" or
	// "pane".
	Evidence string
	// EntersResent counts the extra Enter presses.
	EntersResent int
}

// ErrNotConfirmed marks a message that was typed but never seen taken.
var ErrNotConfirmed = fmt.Errorf("message not confirmed: %w", ErrTimeout)

// messageNeedle is a part of text that shows verbatim in a JSON session
// record and in a pane: the longest run (at most 64 bytes) of printable
// ASCII other than the characters JSON escapes.
func messageNeedle(text string) string {
	best, start := "", -1
	flush := func(end int) {
		if start >= 0 && end-start > len(best) {
			best = text[start:end]
		}
		start = -1
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(text))
	best = strings.TrimSpace(best)
	if len(best) > 64 {
		best = best[:64]
	}
	return best
}

// sameMessage compares a user turn with the text sent, ignoring the
// surrounding whitespace and line-ending style.
func sameMessage(turn, text string) bool {
	norm := func(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n")) }
	return norm(turn) == norm(text)
}

// countTurns counts the user turns of the agent's session record that are
// the text.
func countTurns(ctx context.Context, h *Host, rec AgentRecord, text, needle string) (int, error) {
	entries, err := readTranscript(ctx, h, rec, needle)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Role == RoleUser && sameMessage(e.Text, text) {
			n++
		}
	}
	return n, nil
}

// countInPane counts how often needle shows in the pane and its
// scrollback, wrapped lines joined.
func countInPane(ctx context.Context, h *Host, prefix string, rec AgentRecord, needle string) (int, error) {
	res, err := h.run(ctx, "capture agent "+strconv.Quote(rec.Name), ScriptCall(paneSh, "capture", SessionName(prefix, rec.Name), "1", "1"))
	if err != nil {
		return 0, err
	}
	if !res.OK() {
		return 0, paneError("capture agent "+strconv.Quote(rec.Name), h, prefix, rec, res)
	}
	return strings.Count(res.Stdout, needle), nil
}

// checkCLIRunning refuses a message to an agent whose CLI is not running
// (DONE: its pane shows a bare shell, where the text would run as a
// command).
func checkCLIRunning(ctx context.Context, h *Host, prefix string, rec AgentRecord) error {
	want := expectedProcess(rec.Type, rec.Command)
	if want == "" {
		return nil
	}
	what := "send message to agent " + strconv.Quote(rec.Name)
	res, err := h.run(ctx, what, readyProbeScript(SessionName(prefix, rec.Name), false))
	if err != nil {
		return err
	}
	if !res.OK() {
		return paneError(what, h, prefix, rec, res)
	}
	if !parseReadyProbe(res.Stdout, want).running {
		return WithHint(fmt.Errorf("%s: its %s is not running (the agent is DONE; its pane holds a shell, which is not sent messages): %w", what, want, ErrConflict),
			"start it again, then send: mngr start %s", rec.Name)
	}
	return nil
}

// hookSettle bounds the wait for claude's UserPromptSubmit hook after its
// transcript shows the prompt.
const hookSettle = 10 * time.Second

// waitHooks waits (at most hookSettle) until claude's UserPromptSubmit hook
// has marked the prompt submitted, so that the agent's state is RUNNING
// (or, after a quick answer, WAITING again) when the send returns and a
// `mngr wait --state WAITING` right after it cannot see the state from
// before the message. Hooks the user turned off only make it wait longer.
func waitHooks(ctx context.Context, h *Host, submitted string) {
	deadline := time.Now().Add(hookSettle)
	for time.Now().Before(deadline) {
		res, err := h.run(ctx, "wait for the agent's hooks", "[ -e "+submitted+" ]")
		if err != nil || res.OK() {
			return
		}
		if Sleep(ctx, readyPoll) != nil {
			return
		}
	}
}

// DeliverMessage sends text to the agent (see SendMessage) and waits, at
// most timeout (DefaultMessageConfirmTimeout when zero), for evidence that
// the agent took it: for claude a user turn with the text in its session
// transcript, for codex in its session record, for other types the text
// in the pane (best effort). While there is none, Enter is pressed again a
// bounded number of times, in case the text sits unsent in the input. An
// agent whose CLI is not running gets nothing. Without evidence in time
// the error is ErrNotConfirmed, with the pane's last lines in its hint.
func DeliverMessage(ctx context.Context, h *Host, prefix string, rec AgentRecord, text string, timeout time.Duration) (Delivery, error) {
	if timeout <= 0 {
		timeout = DefaultMessageConfirmTimeout
	}
	text = strings.TrimRight(text, "\r\n")
	if strings.TrimSpace(text) == "" {
		return Delivery{}, SendMessage(ctx, h, prefix, rec, text) // the empty-message error
	}
	if h.Exec == nil {
		return Delivery{}, fmt.Errorf("send message on host %q: %w", h.Name, ErrHostOffline)
	}
	if err := checkCLIRunning(ctx, h, prefix, rec); err != nil {
		return Delivery{}, err
	}
	needle := messageNeedle(text)
	useRecord := HasTranscript(rec.Type)
	d := Delivery{Evidence: "pane"}
	if useRecord {
		d.Evidence = "transcript"
		if rec.Type == "codex" {
			d.Evidence = "session record"
		}
	} else if needle == "" {
		// Nothing printable to look for in the pane: the send is all.
		return d, SendMessage(ctx, h, prefix, rec, text)
	}
	count := func() (int, error) {
		if useRecord {
			return countTurns(ctx, h, rec, text, needle)
		}
		return countInPane(ctx, h, prefix, rec, needle)
	}
	base, err := count()
	if err != nil {
		return d, err
	}
	submitted := ShellQuote(path.Join(agentStateDir(h, rec.ID), markerSubmitted))
	if rec.Type == "claude" {
		if _, err := h.mustRun(ctx, "send message to agent "+strconv.Quote(rec.Name), "rm -f "+submitted); err != nil {
			return d, err
		}
	}
	if err := SendMessage(ctx, h, prefix, rec, text); err != nil {
		return d, err
	}
	start := time.Now()
	for {
		n, err := count()
		if err != nil {
			return d, err
		}
		if n > base {
			d.Confirmed = true
			if rec.Type == "claude" {
				waitHooks(ctx, h, submitted)
			}
			return d, nil
		}
		elapsed := time.Since(start)
		if elapsed >= timeout {
			break
		}
		if useRecord && d.EntersResent < len(enterRetries) && elapsed >= enterRetries[d.EntersResent] {
			res, err := h.run(ctx, "press Enter in agent "+strconv.Quote(rec.Name), ScriptCall(paneSh, "enter", SessionName(prefix, rec.Name)))
			if err != nil {
				return d, err
			}
			if !res.OK() {
				return d, paneError("press Enter", h, prefix, rec, res)
			}
			d.EntersResent++
		}
		if err := Sleep(ctx, confirmPoll); err != nil {
			return d, fmt.Errorf("confirm message to agent %q: %w", rec.Name, err)
		}
	}
	where := map[string]string{"transcript": "claude's session transcript", "session record": "codex's session record", "pane": "its pane"}[d.Evidence]
	tail := ""
	if pane, err := CapturePane(ctx, h, prefix, rec, false); err == nil {
		lines := strings.Split(strings.TrimRight(pane, "\n"), "\n")
		if len(lines) > paneTailLines {
			lines = lines[len(lines)-paneTailLines:]
		}
		tail = "its screen ends with:\n    " + strings.Join(lines, "\n    ") + "\n  "
	}
	return d, WithHint(fmt.Errorf("message to agent %q was typed but not confirmed within %s (it never showed in %s; Enter pressed %d more time(s)): %w",
		rec.Name, timeout, where, d.EntersResent, ErrNotConfirmed),
		"%sanswer what it shows with mngr connect %s, then send again; to wait longer: mngr config set message_confirm_timeout %d",
		tail, rec.Name, int(2*timeout.Seconds()+0.5))
}
