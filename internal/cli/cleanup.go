package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type cleanupOptions struct {
	f *Factory

	Stop      bool
	Destroy   bool
	OlderThan string
	IdleFor   string
	Providers []string
	Types     []string
	Labels    []string
	DryRun    bool
	Force     bool
}

func newCmdCleanup(f *Factory, runF func(*cleanupOptions) error) *cobra.Command {
	opts := &cleanupOptions{f: f}
	cmd := &cobra.Command{
		Use:   "cleanup [--destroy|--stop] [--older-than D] [--idle-for D] [--provider P] [--type T] [--label K=V] [--dry-run] [-f]",
		Short: "Stop or destroy the agents you forgot",
		Long: `Select agents with the filters (all must match; none selects every agent),
print them, and destroy them (--destroy, the default) or stop them (--stop),
through the same steps as mngr destroy and mngr stop: on Azure a host left
without agents goes too, and a stopped host is deallocated.

--older-than D selects agents created at least D ago; --idle-for D those
whose own activity (created, started, or their claude hooks) is at least D
old; an agent whose activity cannot be read (its host is stopped) is not
selected by --idle-for. Durations are ` + core.DurationForms + `.

On a terminal cleanup asks before it acts; elsewhere (a pipe, a script,
--format json) it needs -f. --dry-run prints the selection and changes
nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Stop && opts.Destroy {
				return usageErrorf("give one of --stop and --destroy")
			}
			if runF != nil {
				return runF(opts)
			}
			return runCleanup(cmd.Context(), opts)
		},
		Example: `  # What would go: agents created more than a week ago
  mngr cleanup --older-than 7d --dry-run

  # Stop every Azure agent idle for an hour, without being asked
  mngr cleanup --stop --idle-for 1h --provider azure -f

  # Destroy a team's agents
  mngr cleanup --destroy --label team=infra`,
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Destroy, "destroy", false, "destroy the selected agents (the default)")
	fl.BoolVar(&opts.Stop, "stop", false, "stop the selected agents instead of destroying them")
	fl.StringVar(&opts.OlderThan, "older-than", "", "only agents created at least this long ago ("+core.DurationForms+")")
	fl.StringVar(&opts.IdleFor, "idle-for", "", "only agents without activity for at least this long")
	fl.StringArrayVar(&opts.Providers, "provider", nil, "only agents of this provider instance (repeatable)")
	fl.StringArrayVar(&opts.Types, "type", nil, "only agents of this type (repeatable)")
	fl.StringArrayVar(&opts.Labels, "label", nil, "only agents with this label K=V (repeatable; all must match)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the selection and change nothing")
	fl.BoolVarP(&opts.Force, "force", "f", false, "act without asking")
	return cmd
}

// cleanupAgent is one selected agent in cleanup's output.
type cleanupAgent struct {
	Name        string          `json:"name"`
	ID          core.AgentID    `json:"id"`
	State       core.AgentState `json:"state"`
	Host        string          `json:"host"`
	Provider    string          `json:"provider_name"`
	AgeSeconds  int64           `json:"age_seconds"`
	IdleSeconds *int64          `json:"idle_seconds"`
}

// cleanupResult is cleanup's JSON result.
type cleanupResult struct {
	Action   string         `json:"action"`
	DryRun   bool           `json:"dry_run"`
	Selected []cleanupAgent `json:"selected"`
	// Done are the agents stopped or destroyed.
	Done []string `json:"done"`
	reportSummary
}

// cleanupFilter is cleanup's checked selection.
type cleanupFilter struct {
	olderThan, idleFor time.Duration
	types              []string
	labels             map[string]string
}

func parseCleanupFilter(opts *cleanupOptions) (cleanupFilter, error) {
	var c cleanupFilter
	var err error
	if opts.OlderThan != "" {
		if c.olderThan, err = core.ParseDuration("--older-than", opts.OlderThan); err != nil {
			return c, err
		}
	}
	if opts.IdleFor != "" {
		if c.idleFor, err = core.ParseDuration("--idle-for", opts.IdleFor); err != nil {
			return c, err
		}
	}
	if c.labels, err = parseKV(opts.Labels, "--label"); err != nil {
		return c, err
	}
	for _, t := range opts.Types {
		if strings.TrimSpace(t) == "" {
			return c, core.WithHint(fmt.Errorf("--type is empty: %w", core.ErrInvalidInput), "name an agent type, for example --type claude (mngr list --fields name,type shows them)")
		}
	}
	c.types = opts.Types
	return c, nil
}

// match says whether r passes the filters; idle is the agent's idle time
// (nil when unknown).
func (c cleanupFilter) match(r agentRef, now time.Time, idle *time.Duration) bool {
	if c.olderThan > 0 && now.Sub(r.Record.CreateTime) < c.olderThan {
		return false
	}
	if c.idleFor > 0 && (idle == nil || *idle < c.idleFor) {
		return false
	}
	if len(c.types) > 0 && !containsStr(c.types, r.Record.Type) {
		return false
	}
	for k, v := range c.labels {
		if got, ok := r.Record.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func runCleanup(ctx context.Context, opts *cleanupOptions) error {
	f := opts.f
	format := f.Format()
	filter, err := parseCleanupFilter(opts)
	if err != nil {
		return err
	}
	prog := core.ProgressFrom(ctx)
	all, gerrs, err := gatherAgents(ctx, f, opts.Providers, prog.Warn)
	if err != nil {
		return err
	}
	for _, e := range gerrs {
		prog.Warn(fmt.Sprintf("provider %s: %s (its agents are not considered)", e.ProviderName, e.Message))
	}
	now := time.Now()
	idle := agentIdleTimes(all, now)
	var picked []agentRef
	res := cleanupResult{Action: "destroy", DryRun: opts.DryRun, Selected: []cleanupAgent{}, Done: []string{}}
	if opts.Stop {
		res.Action = "stop"
	}
	for _, r := range all {
		d := idle[r.Record.ID]
		if !filter.match(r, now, d) {
			continue
		}
		picked = append(picked, r)
		ca := cleanupAgent{Name: r.Record.Name, ID: r.Record.ID, State: r.State, Host: r.Host.Name, Provider: r.ProviderName,
			AgeSeconds: int64(now.Sub(r.Record.CreateTime) / time.Second)}
		if d != nil {
			s := int64(*d / time.Second)
			ca.IdleSeconds = &s
		}
		res.Selected = append(res.Selected, ca)
	}
	if len(picked) == 0 || opts.DryRun {
		res.reportSummary = reportSummary{Failures: []core.Failure{}}
		return Emit(f.IO, format, func(w io.Writer) error {
			if len(picked) == 0 {
				logf(w, "No agents match.\n")
				return nil
			}
			writeCleanupTable(w, res.Selected)
			logf(w, "Would %s %d agent(s) (dry run: nothing changed).\n", res.Action, len(picked))
			return nil
		}, res, []any{struct {
			Event string `json:"event"`
			cleanupResult
		}{"cleanup_selection", res}})
	}
	if format == FormatHuman {
		writeCleanupTable(f.IO.ErrOut, res.Selected)
	}
	if !opts.Force {
		if !f.IO.InIsTerminal || !f.IO.ErrIsTerminal || format != FormatHuman {
			return core.WithHint(fmt.Errorf("refusing to %s %d agent(s) without -f when not asked on a terminal: %w", res.Action, len(picked), core.ErrInvalidInput),
				"look at the selection with --dry-run, then run again with -f")
		}
		if err := askYes(f, fmt.Sprintf("%s these %d agent(s)?", capitalize(res.Action), len(picked)), "cleanup"); err != nil {
			return err
		}
	}
	var rep core.Report
	verb, event := "Destroyed", "destroy_result"
	if opts.Stop {
		verb, event = "Stopped", "stop_result"
		rep = core.StopAgents(ctx, picked, core.StopOptions{ListTimeout: hostListTimeout})
	} else {
		rep = core.DestroyAgents(ctx, picked, core.DestroyOptions{ListTimeout: hostListTimeout})
		forgetDestroyed(ctx, f, picked, &rep, core.BranchRemovalOptions{})
	}
	res.Done = rep.Done()
	res.reportSummary = summarize(&rep)
	return emitReport(f.IO, format, verb, event, "", &rep, res)
}

// agentIdleTimes returns each agent's idle time from what the listing
// already read (its newest activity stamp, the process heartbeat left out:
// the idle of mngr list); absent when unknown, as for an offline host.
func agentIdleTimes(refs []agentRef, now time.Time) map[core.AgentID]*time.Duration {
	out := map[core.AgentID]*time.Duration{}
	for _, r := range refs {
		if r.LastActivity != nil {
			d := now.Sub(*r.LastActivity)
			out[r.Record.ID] = &d
		}
	}
	return out
}

func writeCleanupTable(w io.Writer, rows []cleanupAgent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	logf(tw, "NAME\tSTATE\tHOST\tPROVIDER\tAGE\tIDLE\n")
	for _, r := range rows {
		idle := "-"
		if r.IdleSeconds != nil {
			idle = core.FormatSeconds(roundSeconds(*r.IdleSeconds))
		}
		logf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.State, r.Host, r.Provider, core.FormatSeconds(roundSeconds(r.AgeSeconds)), idle)
	}
	_ = tw.Flush()
}

// roundSeconds rounds a duration in seconds to the unit people read it in
// (minutes past an hour, hours past a day), for the table.
func roundSeconds(s int64) int {
	switch {
	case s >= 86400:
		return int(s / 3600 * 3600)
	case s >= 3600:
		return int(s / 60 * 60)
	}
	return int(s)
}
