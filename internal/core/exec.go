package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ExitTimedOut is the exit status of a command mngr exec stopped at its
// --timeout (as coreutils timeout reports it).
const ExitTimedOut = 124

// execGrace is how long after its --timeout a command's host may take to
// report it stopped before mngr gives up on the host's answer.
const execGrace = 15 * time.Second

// ExecOptions are the options of one mngr exec on one agent.
type ExecOptions struct {
	// Command is the shell command line.
	Command string
	// Cwd is where it runs: a path relative to the agent's work dir, or
	// absolute; "" is the work dir.
	Cwd string
	// Timeout, when positive, stops the command (TERM, then KILL 5 s
	// later, its whole process group) once it has run that long.
	Timeout time.Duration
}

// ParseTimeout reads a --timeout value: a duration such as 30s, 5m or 1h,
// or a whole number of seconds; it must be more than 0.
func ParseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseFloat(s, 64)
		if nerr != nil || math.IsNaN(n) || math.IsInf(n, 0) || n > float64(math.MaxInt64/int64(time.Second)) {
			return 0, WithHint(fmt.Errorf("invalid --timeout %q: %w", Printable(s), ErrInvalidInput), "give a duration such as 30s, 5m or 1h (or a number of seconds)")
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d <= 0 {
		return 0, WithHint(fmt.Errorf("invalid --timeout %q: it must be more than 0: %w", Printable(s), ErrInvalidInput), "give a duration such as 30s, 5m or 1h")
	}
	return d, nil
}

// ExecScriptWith is the script that runs o.Command for agent rec on h: in
// its work dir (or o.Cwd), with its environment, stopped after o.Timeout
// with exit status ExitTimedOut.
func ExecScriptWith(h *Host, rec AgentRecord, o ExecOptions) string {
	command := o.Command
	if o.Cwd != "" {
		q := ShellQuote(o.Cwd)
		command = fmt.Sprintf("cd -- %s 2>/dev/null || { printf 'mngr: no directory %%s in the work dir %%s\\n' %s %s >&2; exit 1; }\n%s",
			q, q, ShellQuote(rec.WorkDir), command)
	}
	script := ExecScript(h, rec, command)
	if o.Timeout <= 0 {
		return script
	}
	secs := strconv.FormatFloat(math.Ceil(o.Timeout.Seconds()*1000)/1000, 'f', -1, 64)
	// coreutils (and busybox) timeout signals the command's whole process
	// group; without it the client side's deadline still ends the run.
	return fmt.Sprintf("if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 %s sh -c %s; fi\n%s", secs, ShellQuote(script), script)
}

// RunExec runs o on agent rec's host h. A command stopped at o.Timeout
// reports exit status ExitTimedOut; so does a host that did not answer
// within a grace period after it (err wraps ErrTimeout then).
func RunExec(ctx context.Context, h *Host, rec AgentRecord, o ExecOptions, ro RunOptions) (RunResult, error) {
	if h.Exec == nil {
		return RunResult{}, fmt.Errorf("exec on host %q: %w", h.Name, ErrHostOffline)
	}
	rctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, o.Timeout+execGrace)
		defer cancel()
	}
	res, err := h.Exec.Run(rctx, ExecScriptWith(h, rec, o), ro)
	if err != nil && o.Timeout > 0 && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		res.ExitCode = ExitTimedOut
		return res, fmt.Errorf("exec on host %q: no answer within %s after the --timeout: %w", h.Name, execGrace, ErrTimeout)
	}
	return res, err
}
