package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// Executor runs scripts on this machine with `sh -c`.
type Executor struct {
	// Dir is the working directory of every command; "" keeps the caller's.
	Dir string
}

var (
	_ core.Executor   = Executor{}
	_ core.LocalFiles = Executor{}
)

// Run runs script with `sh -c`. A non-zero exit is reported in the result;
// err is set only when the shell could not run or ctx ended.
func (e Executor) Run(ctx context.Context, script string, opts core.RunOptions) (res core.RunResult, err error) {
	if core.DebugEnabled() {
		// -v logs host commands on this machine as on a remote host.
		start := time.Now()
		defer func() {
			outcome := fmt.Sprintf("exit %d", res.ExitCode)
			if err != nil {
				outcome = err.Error()
			}
			core.Debugf("local: %s → %s (%s)", core.ScriptSummary(script), outcome, time.Since(start).Round(time.Millisecond))
		}()
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", script) //nolint:gosec // G204: running the caller's script is this executor's job.
	cmd.Dir = e.Dir
	cmd.Stdin = opts.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if opts.Stdout != nil {
		cmd.Stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		cmd.Stderr = opts.Stderr
	}
	// A background child that keeps our pipes open must not hang the call.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	res = core.RunResult{Stdout: stdout.String(), Stderr: stderr.String()}
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		return res, fmt.Errorf("run local command: %w", ctxErr)
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if res.ExitCode < 0 {
			return res, fmt.Errorf("run local command: %w", err)
		}
	case errors.Is(err, exec.ErrWaitDelay):
		// The script finished; only a leftover child held the output open.
	default:
		return res, fmt.Errorf("run local command: %w", err)
	}
	return res, nil
}

// FilesAreLocal reports that the host's files are this machine's (core.LocalFiles).
func (e Executor) FilesAreLocal() bool { return true }

// InteractiveArgv returns the argv that runs script with the caller's terminal.
func (e Executor) InteractiveArgv(script string) []string {
	return []string{"bash", "-c", script}
}
