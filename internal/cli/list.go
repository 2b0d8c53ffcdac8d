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

type listOptions struct {
	f *Factory

	Providers []string
	Query     listQueryOptions
	// OnError is "continue" (list what was found, then the errors) or
	// "abort" (a provider error lists nothing).
	OnError string
	// Hosts lists hosts (with their cost) instead of agents.
	Hosts bool
	// IDs and Addrs print one agent id, or NAME@HOST.PROVIDER, per line.
	IDs, Addrs bool

	now func() time.Time
}

func newCmdList(f *Factory, runF func(*listOptions) error) *cobra.Command {
	opts := &listOptions{f: f, now: time.Now}
	limit := 0
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List agents on every enabled provider",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Query.Limit = limit
			if !cmd.Flags().Changed("limit") {
				opts.Query.Limit = 0
			}
			if opts.OnError != "continue" && opts.OnError != "abort" {
				return usageErrorf("--on-error %q: use continue or abort", opts.OnError)
			}
			if runF != nil {
				return runF(opts)
			}
			return runList(cmd.Context(), opts)
		},
		Long: `List the agents of every enabled provider instance, or of the instances
named with --provider. Agents on a stopped or deallocated Azure VM are listed
too (from the VM's tags). A host that was powered off from inside but still
bills shows as STOPPED_BILLING (!), with the command that stops the billing.
A cloud host on which no agent was found (an interrupted create) shows as an
orphan host line: its state, what bills and the command that removes it.

Filters (all must hold): --include and --exclude take CEL expressions over
the agent's fields (repeatable; an agent is listed when it matches every
--include and no --exclude); --running, --stopped, --local, --remote,
--project NAME ('.' is the current directory's project) and --label K=V
are shorthands. An expression that cannot be evaluated for an agent (a
label it lacks, an idle time not known because its host is offline) does
not match it.

` + listFieldsHelp + `.

--sort 'EXPR [asc|desc], …' orders by CEL expressions (default
create_time; numbers as numbers, unknown values last); --limit N keeps the
first N. --fields a,b picks the table columns and the JSON keys. --ids
and --addrs print one agent id, or NAME@HOST.PROVIDER, per line, for
'-' of stop, start, destroy, exec, message, label and limit.

--hosts lists hosts instead: every host, agent-less ones and orphans
included, with state, size, region, age, idle time and cost (compute $/h
while running, disk $/month, and the estimate since it was made).`,
		Example: `  # Every agent on every enabled provider
  mngr list

  # Running agents of one provider instance, as one JSON document
  mngr list --running --provider azure --format json

  # Stopped agents, one JSON object per line
  mngr ls --stopped --format jsonl

  # Team a's agents idle for more than a minute, most idle first
  mngr list --include 'labels.team == "a" && idle > duration("1m")' --sort 'idle desc'

  # The ids of team x's agents, one per line, to pipe into '-' of another
  # verb: mngr list --ids --label team=x | mngr stop -
  mngr list --ids --label team=x

  # Names and states only; hosts with their cost
  mngr list --fields name,state,host.name
  mngr list --hosts`,
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Providers, "provider", nil, "only this provider instance (repeatable)")
	fl.BoolVar(&opts.Query.Running, "running", false, "only agents whose processes run")
	fl.BoolVar(&opts.Query.Stopped, "stopped", false, "only stopped agents")
	fl.BoolVar(&opts.Query.Local, "local", false, "only agents on this machine")
	fl.BoolVar(&opts.Query.Remote, "remote", false, "only agents on remote hosts")
	fl.StringVar(&opts.Query.Project, "project", "", "only agents of project NAME (label project; '.' = the current directory's)")
	fl.StringArrayVar(&opts.Query.Labels, "label", nil, "only agents with label K=V (repeatable)")
	fl.StringArrayVar(&opts.Query.Include, "include", nil, "only agents for which this CEL expression is true (repeatable)")
	fl.StringArrayVar(&opts.Query.Exclude, "exclude", nil, "leave out agents for which this CEL expression is true (repeatable)")
	fl.StringVar(&opts.Query.Sort, "sort", "", "order by 'EXPR [asc|desc], …' (default create_time)")
	fl.StringVar(&opts.Query.Fields, "fields", "", "comma-separated fields to show (table columns, JSON keys)")
	fl.IntVar(&limit, "limit", 0, "show at most N agents")
	fl.BoolVar(&opts.IDs, "ids", false, "print one agent id per line")
	fl.BoolVar(&opts.Addrs, "addrs", false, "print one agent address NAME@HOST.PROVIDER per line")
	fl.BoolVar(&opts.Hosts, "hosts", false, "list hosts (agent-less ones included) with their cost instead of agents")
	fl.StringVar(&opts.OnError, "on-error", "continue", "when a provider cannot be listed: continue (list the others' agents, then the error) or abort (list nothing); exit 1 either way")
	return cmd
}

// hostDetails is the host{…} object of list output.
type hostDetails struct {
	ID            core.HostID       `json:"id"`
	Name          string            `json:"name"`
	ProviderName  string            `json:"provider_name"`
	State         core.HostState    `json:"state"`
	StateHint     string            `json:"state_hint,omitempty"`
	Image         *string           `json:"image"`
	Tags          map[string]string `json:"tags"`
	BootTime      *time.Time        `json:"boot_time"`
	UptimeSeconds *float64          `json:"uptime_seconds"`
	Resource      any               `json:"resource"`
	SSH           *core.SSHInfo     `json:"ssh"`
	Snapshots     []string          `json:"snapshots"`
	IsLocked      bool              `json:"is_locked"`
	LockedTime    *time.Time        `json:"locked_time"`
	Plugin        map[string]any    `json:"plugin"`
	SSHActivity   *time.Time        `json:"ssh_activity_time"`
	FailureReason *string           `json:"failure_reason"`
}

// agentDetails is one agent in list output.
type agentDetails struct {
	ResourceType       string            `json:"resource_type"`
	ID                 core.AgentID      `json:"id"`
	Name               string            `json:"name"`
	Type               string            `json:"type"`
	Command            string            `json:"command"`
	WorkDir            string            `json:"work_dir"`
	InitialBranch      *string           `json:"initial_branch"`
	Source             *string           `json:"source"`
	Transfer           *string           `json:"transfer"`
	Branch             *string           `json:"branch"`
	BaseBranch         *string           `json:"base_branch"`
	CreateTime         time.Time         `json:"create_time"`
	StartOnBoot        bool              `json:"start_on_boot"`
	State              core.AgentState   `json:"state"`
	URL                *string           `json:"url"`
	StartTime          *time.Time        `json:"start_time"`
	RuntimeSeconds     *float64          `json:"runtime_seconds"`
	UserActivityTime   *time.Time        `json:"user_activity_time"`
	AgentActivityTime  *time.Time        `json:"agent_activity_time"`
	IdleSeconds        *float64          `json:"idle_seconds"`
	IdleMode           *string           `json:"idle_mode"`
	IdleTimeoutSeconds *int              `json:"idle_timeout_seconds"`
	ActivitySources    []string          `json:"activity_sources"`
	Labels             map[string]string `json:"labels"`
	Host               hostDetails       `json:"host"`
	Plugin             map[string]any    `json:"plugin"`
}

func toDetails(r agentRef, now time.Time) agentDetails {
	d := agentDetails{
		ResourceType: "agent", ID: r.Record.ID, Name: r.Record.Name, Type: r.Record.Type, Command: r.Record.Command,
		WorkDir: r.Record.WorkDir, CreateTime: r.Record.CreateTime, StartOnBoot: r.Record.StartOnBoot, State: r.State,
		ActivitySources: []string{}, Labels: r.Record.Labels, Plugin: map[string]any{},
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if r.Record.CreatedBranchName != "" {
		b := r.Record.CreatedBranchName
		d.InitialBranch, d.Branch = &b, &b
	}
	if r.Record.SourcePath != "" {
		s := r.Record.SourcePath
		d.Source = &s
	}
	if r.Record.Transfer != "" {
		m := string(r.Record.Transfer)
		d.Transfer = &m
	}
	if r.Record.BaseBranch != "" {
		b := r.Record.BaseBranch
		d.BaseBranch = &b
	}
	if t := r.StartTime; t != nil {
		d.StartTime = t
		secs := now.Sub(*t).Seconds()
		d.RuntimeSeconds = &secs
	}
	h := r.Host
	d.Host = hostDetails{
		ID: h.ID, Name: h.Name, ProviderName: r.ProviderName, State: h.State, StateHint: h.StateHint,
		Tags: h.Tags, SSH: h.SSH, Snapshots: []string{}, Plugin: map[string]any{},
	}
	if d.Host.Tags == nil {
		d.Host.Tags = map[string]string{}
	}
	if h.Image != "" {
		img := h.Image
		d.Host.Image = &img
	}
	if h.FailureReason != "" {
		fr := h.FailureReason
		d.Host.FailureReason = &fr
	}
	return d
}

// listOutput is list's JSON result.
type listOutput struct {
	Agents []agentDetails `json:"agents"`
	// OrphanHosts are hosts without any agent that still bill.
	OrphanHosts []orphanHost  `json:"orphan_hosts"`
	Errors      []gatherError `json:"errors"`
}

func runList(ctx context.Context, opts *listOptions) error {
	f := opts.f
	format := f.Format()
	if opts.Hosts {
		return runListHosts(ctx, opts)
	}
	q, err := opts.query(ctx)
	if err != nil {
		return err
	}
	warn := func(msg string) { logf(f.IO.ErrOut, "Warning: %s\n", msg) }
	refs, orphans, errs, err := gatherWithOrphans(ctx, f, opts.Providers, warn, false)
	if err != nil {
		return err
	}
	if opts.OnError == "abort" && len(errs) > 0 {
		// A partial list is not shown: a script reading it could take it
		// for the whole.
		refs, orphans = nil, nil
	}
	if orphans == nil {
		orphans = []orphanHost{}
	}
	now := opts.now()
	listed := q.apply(refs, now)
	agents := make([]agentDetails, 0, len(listed))
	for _, a := range listed {
		agents = append(agents, a.details)
	}
	if errs == nil {
		errs = []gatherError{}
	}
	switch {
	case opts.IDs || opts.Addrs:
		for _, a := range listed {
			line := string(a.details.ID)
			if opts.Addrs {
				line = a.details.Name + "@" + a.details.Host.Name + "." + a.details.Host.ProviderName
			}
			logf(f.IO.Out, "%s\n", line)
		}
	case len(q.fields) > 0:
		objs := make([]map[string]any, 0, len(listed))
		events := make([]any, 0, len(listed))
		for _, a := range listed {
			o := fieldsObject(a.vars, q.fields)
			objs = append(objs, o)
			events = append(events, o)
		}
		if err := Emit(f.IO, format, func(w io.Writer) error {
			if len(listed) == 0 && len(errs) > 0 {
				return nil
			}
			return printFieldsTable(w, listed, q.fields)
		}, map[string]any{"agents": objs, "errors": errs}, events); err != nil {
			return err
		}
	default:
		events := make([]any, 0, len(agents)+len(orphans))
		for _, a := range agents {
			events = append(events, a)
		}
		for _, o := range orphans {
			events = append(events, o)
		}
		if err := Emit(f.IO, format, func(w io.Writer) error {
			if len(agents) == 0 && len(orphans) == 0 && len(errs) > 0 {
				return nil // not "No agents found": a provider that failed may hold some
			}
			if err := printAgentTable(w, agents); err != nil {
				return err
			}
			return printOrphans(w, orphans)
		}, listOutput{Agents: agents, OrphanHosts: orphans, Errors: errs}, events); err != nil {
			return err
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if format != FormatJSON {
		for _, e := range errs {
			logf(f.IO.ErrOut, "Error: provider %s: %s\n", e.ProviderName, e.Message)
			if h := core.HintOf(e.err); h != "" {
				logf(f.IO.ErrOut, "  %s\n", h)
			}
		}
	}
	return &exitError{code: ExitError, err: fmt.Errorf("%d provider error(s) while listing", len(errs)), printed: true}
}

// printOrphans prints one line per host without agents: its state, what
// bills and the command that removes it.
func printOrphans(w io.Writer, orphans []orphanHost) error {
	if len(orphans) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, ""); err != nil {
		return err
	}
	for _, o := range orphans {
		if o.Role != "" {
			if _, err := fmt.Fprintf(w, "Host %s on %s: %s, %s, billed for %s (%s; `%s`)\n",
				o.Name, o.ProviderName, o.Role, o.State, o.Billing, o.When, o.RemoveWith); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintf(w, "Orphan host %s on %s: no agent, %s, billed for %s; remove it with `%s` (%s)\n",
			o.Name, o.ProviderName, o.State, o.Billing, o.RemoveWith, o.When); err != nil {
			return err
		}
	}
	return nil
}

func printAgentTable(w io.Writer, agents []agentDetails) error {
	if len(agents) == 0 {
		_, err := fmt.Fprintln(w, "No agents found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// Write errors surface at Flush below.
	_, _ = fmt.Fprintln(tw, "NAME\tSTATE\tHOST\tPROVIDER\tHOST STATE\tPROJECT")
	var notes []string
	seen := map[core.HostID]bool{}
	for _, a := range agents {
		hs := string(a.Host.State)
		if a.Host.State == core.HostStoppedBilling {
			hs += " (!)"
		}
		if a.Host.StateHint != "" && !seen[a.Host.ID] {
			seen[a.Host.ID] = true
			notes = append(notes, core.PrintableLines(fmt.Sprintf("host %s is %s: %s", a.Host.Name, a.Host.State, a.Host.StateHint)))
		}
		// Names, states and labels come from host records: never raw to a terminal.
		p := core.Printable
		logf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p(a.Name), p(string(a.State)), p(a.Host.Name), p(a.Host.ProviderName), p(hs), p(a.Labels["project"]))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if len(notes) > 0 {
		_, err := fmt.Fprintln(w, "\n"+strings.Join(notes, "\n"))
		return err
	}
	return nil
}

// query checks the query flags (before any provider is asked, so bad
// input costs nothing and exits 2).
func (opts *listOptions) query(ctx context.Context) (*listQuery, error) {
	if opts.IDs && opts.Addrs {
		return nil, core.WithHint(fmt.Errorf("--ids and --addrs exclude each other: %w", core.ErrInvalidInput), "give one of them")
	}
	if (opts.IDs || opts.Addrs) && opts.Query.Fields != "" {
		return nil, core.WithHint(fmt.Errorf("--fields does not go with --ids or --addrs: %w", core.ErrInvalidInput), "give one of them")
	}
	o := opts.Query
	o.currentProject = func() string {
		wd, err := opts.f.Getwd()
		if err != nil {
			return ""
		}
		if name := core.ProjectName(ctx, wd); name != "/" && name != "." {
			return name
		}
		return ""
	}
	o.isLocal = func(r agentRef) bool { return core.CapabilitiesOf(r.Provider).HostIsThisMachine }
	return newListQuery(o)
}
