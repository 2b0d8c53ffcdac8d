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
	Running   bool
	Stopped   bool

	now func() time.Time
}

func newCmdList(f *Factory, runF func(*listOptions) error) *cobra.Command {
	opts := &listOptions{f: f, now: time.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List agents on every enabled provider",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
orphan host line: its state, what bills and the command that removes it.`,
		Example: `  # Every agent on every enabled provider
  mngr list

  # Running agents of one provider instance, as one JSON document
  mngr list --running --provider azure --format json

  # Stopped agents, one JSON object per line
  mngr ls --stopped --format jsonl`,
	}
	cmd.Flags().StringArrayVar(&opts.Providers, "provider", nil, "only this provider instance (repeatable)")
	cmd.Flags().BoolVar(&opts.Running, "running", false, "only agents whose processes run")
	cmd.Flags().BoolVar(&opts.Stopped, "stopped", false, "only stopped agents")
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
	warn := func(msg string) { logf(f.IO.ErrOut, "Warning: %s\n", msg) }
	refs, orphans, errs, err := gatherWithOrphans(ctx, f, opts.Providers, warn, false)
	if err != nil {
		return err
	}
	if orphans == nil {
		orphans = []orphanHost{}
	}
	now := opts.now()
	agents := []agentDetails{}
	for _, r := range refs {
		if opts.Running && !r.State.Running() || opts.Stopped && r.State.Running() {
			continue
		}
		agents = append(agents, toDetails(r, now))
	}
	if errs == nil {
		errs = []gatherError{}
	}
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
