package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type rsyncOptions struct {
	f *Factory

	Src, Dst  string
	RsyncArgs []string
	Start     bool
}

func newCmdRsync(f *Factory, runF func(*rsyncOptions) error) *cobra.Command {
	opts := &rsyncOptions{f: f}
	cmd := &cobra.Command{
		Use:   "rsync SRC DST [-- RSYNC_ARGS...]",
		Short: "Copy files between this machine and an agent's work dir",
		Long: `Copy files with rsync between this machine and an agent. One side is
AGENT:PATH, with PATH inside the agent's work dir (relative to it); the
other is a local path (write ./a:b for a local path holding a colon). Agents
on remote hosts are reached over their SSH with mngr's pinned host key.
RSYNC_ARGS go to rsync (for example --delete or --exclude=*.log); rsync's
trailing-slash rule applies (dir/ copies the contents of dir).`,
		Example: `  mngr rsync fixer:results/ ./results/          # results out
  mngr rsync ./data/ fixer:data/                 # files in
  mngr rsync fixer:report.md . -- --checksum`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pos := args
			if n := cmd.ArgsLenAtDash(); n >= 0 {
				pos, opts.RsyncArgs = args[:n], args[n:]
			}
			if len(pos) != 2 {
				return usageErrorf("rsync takes SRC and DST (got %d arguments); put rsync's own arguments after --", len(pos))
			}
			opts.Src, opts.Dst = pos[0], pos[1]
			if runF != nil {
				return runF(opts)
			}
			return runRsync(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Start, "start", false, "start the agent's host first when it is stopped")
	return cmd
}

// splitAgentPath splits AGENT:PATH; ok is false for a local path.
func splitAgentPath(s string) (agent, p string, ok bool) {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
		return "", "", false
	}
	agent, p, ok = strings.Cut(s, ":")
	if !ok || agent == "" || strings.Contains(agent, "/") {
		return "", "", false
	}
	return agent, p, true
}

func runRsync(ctx context.Context, opts *rsyncOptions) error {
	f := opts.f
	format := f.Format()
	srcAgent, srcPath, srcIsAgent := splitAgentPath(opts.Src)
	dstAgent, dstPath, dstIsAgent := splitAgentPath(opts.Dst)
	if srcIsAgent == dstIsAgent {
		return core.WithHint(fmt.Errorf("exactly one of SRC and DST must be AGENT:PATH (got %q and %q): %w", opts.Src, opts.Dst, core.ErrInvalidInput),
			"copy out with `mngr rsync AGENT:PATH LOCAL`, or in with `mngr rsync LOCAL AGENT:PATH`")
	}
	name, agentPath, local := dstAgent, dstPath, opts.Src
	if srcIsAgent {
		name, agentPath, local = srcAgent, srcPath, opts.Dst
	}
	progress := toolProgress(f)
	var full string
	rec, err := reachAgentRepo(ctx, f, name, opts.Start,
		func(rec core.AgentRecord) error { _, err := core.AgentPath(rec, agentPath); return err },
		func(rec core.AgentRecord, ar core.AgentRepo) error {
			var err error
			if full, err = core.AgentPath(rec, agentPath); err != nil {
				return err
			}
			if agentPath == "" || strings.HasSuffix(agentPath, "/") {
				full += "/"
			}
			_, err = core.Rsync(ctx, core.RsyncRequest{Agent: ar, FromAgent: srcIsAgent, AgentPath: full, LocalPath: local, Args: opts.RsyncArgs, Progress: progress})
			return err
		})
	if err != nil {
		return err
	}
	res := rsyncResult{Agent: rec.Name, Source: opts.Src, Destination: opts.Dst, AgentPath: full}
	return Emit(f.IO, format, func(w io.Writer) error {
		if f.Quiet() {
			return nil
		}
		_, err := fmt.Fprintf(w, "Copied %s to %s.\n", opts.Src, opts.Dst)
		return err
	}, res, []any{rsyncEvent{Event: "rsync", rsyncResult: res}})
}

// rsyncResult is rsync's JSON result.
type rsyncResult struct {
	Agent       string `json:"agent"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	AgentPath   string `json:"agent_path"`
}

// rsyncEvent is rsync's jsonl event.
type rsyncEvent struct {
	Event string `json:"event"`
	rsyncResult
}
