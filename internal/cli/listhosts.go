package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// hostRow is one host of `mngr list --hosts`.
type hostRow struct {
	ResourceType string         `json:"resource_type"`
	ID           core.HostID    `json:"id"`
	Name         string         `json:"name"`
	ProviderName string         `json:"provider_name"`
	State        core.HostState `json:"state"`
	Size         string         `json:"size"`
	Region       string         `json:"region"`
	CreatedAt    *time.Time     `json:"created_at"`
	AgeSeconds   *float64       `json:"age_seconds"`
	// IdleSeconds is the time since the newest activity of the host or
	// its agents; null when not known (an offline host, or no agent).
	IdleSeconds *float64 `json:"idle_seconds"`
	Agents      int      `json:"agents"`
	// AgentsListed is false when the host's agents could not be listed.
	AgentsListed bool `json:"agents_listed"`
	// Orphan is a cloud host without any agent that still bills.
	Orphan bool `json:"orphan"`
	// Role is what mngr made an agent-less host for (an image builder).
	Role string `json:"role,omitempty"`
	// Cost is null when the provider prices nothing; a null price inside
	// is one the price table does not know.
	Cost *core.HostCost `json:"cost"`
	// BillingNow is what the host costs in its state: compute and disk
	// while it runs, the disk only while it is deallocated.
	BillingNow string `json:"billing_now"`
}

// listHostsOutput is `mngr list --hosts --format json`.
type listHostsOutput struct {
	Hosts  []hostRow     `json:"hosts"`
	Errors []gatherError `json:"errors"`
}

// agentQueryTyped names the flags of an agent listing (filters, sort,
// fields, limit, ids, addrs), which --hosts does not make, that were typed
// on the command line. A default of [commands.list] (a sort or fields the
// user likes) is no conflict: --hosts leaves it unused.
func agentQueryTyped(opts *listOptions) []string {
	q := opts.Query
	set := []struct {
		name string
		set  bool
	}{
		{"include", len(q.Include) > 0}, {"exclude", len(q.Exclude) > 0}, {"sort", q.Sort != ""},
		{"fields", q.Fields != ""}, {"limit", q.Limit != 0}, {"running", q.Running}, {"stopped", q.Stopped},
		{"local", q.Local}, {"remote", q.Remote}, {"project", q.Project != ""}, {"label", len(q.Labels) > 0},
		{"ids", opts.IDs}, {"addrs", opts.Addrs},
	}
	var typed []string
	for _, fl := range set {
		if fl.set && opts.f.flagGiven(fl.name) {
			typed = append(typed, "--"+fl.name)
		}
	}
	return typed
}

// runListHosts lists every host of the providers with its cost, in the
// same one round as the agent listing (the idle times come from it).
func runListHosts(ctx context.Context, opts *listOptions) error {
	f := opts.f
	if typed := agentQueryTyped(opts); len(typed) > 0 {
		return core.WithHint(fmt.Errorf("--hosts lists hosts: %s (agent filters, --sort, --fields, --limit, --ids and --addrs) do not apply: %w", strings.Join(typed, ", "), core.ErrInvalidInput),
			"use --hosts with --provider only, or leave --hosts out to filter agents")
	}
	warn := func(msg string) { logf(f.IO.ErrOut, "Warning: %s\n", msg) }
	refs, orphans, errs, hosts, err := gatherHosts(ctx, f, opts.Providers, warn, false)
	if err != nil {
		return err
	}
	if errs == nil {
		errs = []gatherError{}
	}
	now := opts.now()
	newest := map[core.HostID]time.Time{}
	for _, r := range refs {
		if r.LastActivity != nil && r.LastActivity.After(newest[r.Host.ID]) {
			newest[r.Host.ID] = *r.LastActivity
		}
	}
	orphan := map[core.HostID]bool{}
	for _, o := range orphans {
		orphan[o.ID] = true
	}
	rows := make([]hostRow, 0, len(hosts))
	events := make([]any, 0, len(hosts))
	for _, sh := range hosts {
		h := sh.Host
		row := hostRow{ResourceType: "host", ID: h.ID, Name: h.Name, ProviderName: sh.ProviderName, State: h.State,
			Size: h.Size, Region: h.Region, Agents: sh.Agents, AgentsListed: sh.Listed, Orphan: orphan[h.ID] && h.Role == "", Role: h.Role, Cost: h.Cost}
		if !h.CreatedAt.IsZero() && h.CreatedAt.Unix() > 0 {
			c := h.CreatedAt
			age := now.Sub(c).Seconds()
			row.CreatedAt, row.AgeSeconds = &c, &age
		}
		if t, ok := newest[h.ID]; ok {
			idle := max(now.Sub(t), 0).Seconds()
			row.IdleSeconds = &idle
		}
		if core.CapabilitiesOf(sh.Provider).HostIsThisMachine {
			row.Cost = core.Free()
		}
		row.BillingNow = billingNow(row)
		rows = append(rows, row)
		events = append(events, row)
	}
	if err := Emit(f.IO, f.Format(), func(w io.Writer) error {
		if len(rows) == 0 && len(errs) > 0 {
			return nil
		}
		return printHostTable(w, rows)
	}, listHostsOutput{Hosts: rows, Errors: errs}, events); err != nil {
		return err
	}
	if len(errs) == 0 {
		return nil
	}
	if f.Format() != FormatJSON {
		for _, e := range errs {
			logf(f.IO.ErrOut, "Error: provider %s: %s\n", e.ProviderName, e.Message)
			if e.Hint != "" {
				logf(f.IO.ErrOut, "  %s\n", e.Hint)
			}
		}
	}
	return &exitError{code: ExitError, err: fmt.Errorf("%d provider error(s) while listing", len(errs)), printed: true}
}

// billingNow says what the host costs in its current state.
func billingNow(r hostRow) string {
	c := r.Cost
	if c == nil {
		return "unknown (the provider has no prices)"
	}
	if c.ComputePerHour != nil && *c.ComputePerHour == 0 && c.DiskPerMonth != nil && *c.DiskPerMonth == 0 {
		return "none"
	}
	disk := "disk price unknown"
	if c.DiskPerMonth != nil {
		disk = fmt.Sprintf("disk $%.2f/month", *c.DiskPerMonth)
	}
	switch r.State {
	case core.HostRunning, core.HostStarting, core.HostStopping, core.HostStoppedBilling:
		if c.ComputePerHour == nil {
			return "compute price unknown, " + disk
		}
		return fmt.Sprintf("$%.4f/h compute, %s", *c.ComputePerHour, disk)
	case core.HostDestroyed:
		return "none"
	default:
		return disk
	}
}

func dollars(p *float64) string {
	if p == nil {
		return "unknown"
	}
	// A young host's few tenths of a cent would round to $0.00, which
	// reads as free.
	if *p > 0 && *p < 0.005 {
		return "<$0.01"
	}
	return "$" + strconv.FormatFloat(*p, 'f', 2, 64)
}

func seconds(p *float64) string {
	if p == nil {
		return "-"
	}
	return (time.Duration(*p) * time.Second).Round(time.Minute).String()
}

// printHostTable prints the hosts and, under them, what the estimates assume.
func printHostTable(w io.Writer, rows []hostRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No hosts found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	logf(tw, "NAME\tPROVIDER\tSTATE\tSIZE\tREGION\tAGE\tIDLE\tAGENTS\tCOST NOW\tSO FAR\n")
	var bases []string
	seen := map[string]bool{}
	p := core.Printable
	for _, r := range rows {
		agents := strconv.Itoa(r.Agents)
		if !r.AgentsListed {
			agents = "?"
		}
		if r.Orphan {
			agents += " (orphan)"
		}
		if r.Role != "" {
			agents += " (image builder)"
		}
		soFar := "unknown"
		if r.Cost != nil {
			soFar = dollars(r.Cost.SoFar)
			if b := r.Cost.Basis; b != "" && !seen[b] {
				seen[b] = true
				bases = append(bases, r.ProviderName+": "+b)
			}
		}
		logf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p(r.Name), p(r.ProviderName), p(string(r.State)), orDash(r.Size), orDash(r.Region),
			seconds(r.AgeSeconds), seconds(r.IdleSeconds), agents, r.BillingNow, soFar)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, b := range bases {
		logf(w, "\nCost %s\n", b)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return core.Printable(s)
}
