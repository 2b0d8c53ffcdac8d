package core

import (
	"context"
	"io"
)

// Executor runs shell commands on a host. The agent layer uses only this, so
// agents run the same way on the local machine and over SSH.
type Executor interface {
	// Run runs script with `sh -c` on the host. A non-zero exit status is
	// reported in the result, not as an error; err is for transport failures.
	Run(ctx context.Context, script string, opts RunOptions) (RunResult, error)
	// InteractiveArgv returns the argv that runs script on the host with a
	// terminal attached (for connect): local bash, or `ssh -t …`.
	InteractiveArgv(script string) []string
}

// RunOptions tunes one Run call.
type RunOptions struct {
	Stdin  io.Reader
	Stdout io.Writer // when set, output streams here instead of into the result
	Stderr io.Writer
}

// RunResult is what a command printed and how it exited.
type RunResult struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// OK reports whether the command exited 0.
func (r RunResult) OK() bool { return r.ExitCode == 0 }
