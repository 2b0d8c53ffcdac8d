package core

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// LocalFiles is implemented by executors whose host is this machine, so
// that its files can be read directly. The agent layer uses it to answer
// "are there any agents here" with one directory read instead of a shell:
// mngr list with no local agents then starts no process at all.
type LocalFiles interface {
	// FilesAreLocal reports whether the host's paths are this machine's.
	FilesAreLocal() bool
}

// noLocalAgents reports whether h is this machine and holds no agent
// record (agents/<id>/data.json under its host dir). Any doubt answers false,
// and the listing script runs as usual.
func noLocalAgents(h *Host) bool {
	lf, ok := h.Exec.(LocalFiles)
	if !ok || !lf.FilesAreLocal() || h.HostDir == "" {
		return false
	}
	dir := filepath.Join(h.HostDir, "agents")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "data.json")); !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}
