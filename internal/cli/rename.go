package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type renameOptions struct {
	f *Factory

	// Target is the agent address, or with Host the host (NAME|ID[.PROVIDER]).
	Target  string
	NewName string
	Host    bool
}

func newCmdRename(f *Factory, runF func(*renameOptions) error) *cobra.Command {
	opts := &renameOptions{f: f}
	cmd := &cobra.Command{
		Use:     "rename AGENT NEW | rename --host HOST[.PROVIDER] NEW",
		Aliases: []string{"mv"},
		Short:   "Rename an agent or a host",
		Long: `Rename an agent: its record on its host, its tmux session (a running agent
keeps running; its processes keep the old MNGR_AGENT_NAME in their
environment until it is started again), its env file and this machine's
records of it. A name another agent has is refused. An agent whose host is
offline is renamed where the provider keeps the agents' records beside its
hosts (on Azure the VM's tags, without starting a deallocated VM); the
host's own record takes the new name at the next mngr start.

With --host, rename a host: the name its provider keeps (on Azure the
mngr-host-name tag, re-stamped with one tag call whether the VM runs or is
deallocated) and, when it runs, the host's own record. On Azure the VM's
resource name, its computer name, NIC, public IP and agent container keep
the name they were made with: Azure cannot rename a resource. The local
host is always localhost.`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeAgentNames(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target, opts.NewName = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			if opts.Host {
				return runRenameHost(cmd.Context(), opts)
			}
			return runRenameAgent(cmd.Context(), opts)
		},
		Example: `  # Rename an agent
  mngr rename fixer fixer-old

  # Rename a host (Azure: the VM's mngr-host-name tag)
  mngr rename --host my-agent-host build-box`,
	}
	cmd.Flags().BoolVar(&opts.Host, "host", false, "rename the host HOST instead of an agent")
	return cmd
}

// renameResult is rename's JSON result.
type renameResult struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	OldName string `json:"old_name"`
	NewName string `json:"new_name"`
	// Offline says only the provider's records were changed (the host was
	// offline); the host's own record follows at its next start.
	Offline bool `json:"offline"`
}

func runRenameAgent(ctx context.Context, opts *renameOptions) error {
	f := opts.f
	a, err := parseAddress(opts.Target, false)
	if err != nil {
		return err
	}
	if err := core.ValidateName("agent", opts.NewName); err != nil {
		return err
	}
	all, gerrs, err := gatherAgents(ctx, f, nil, func(string) {})
	if err != nil {
		return err
	}
	r, err := matchAddress(all, gerrs, a)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Record.Name == opts.NewName && o.Record.ID != r.Record.ID {
			return core.WithHint(fmt.Errorf("agent name %q is taken by %s@%s.%s: %w", opts.NewName, o.Record.Name, o.Host.Name, o.ProviderName, core.ErrConflict),
				"pick a name no agent has (mngr list shows them)")
		}
	}
	old := r.Record.Name
	rec, offline, err := core.RenameAgentRef(ctx, &r, opts.NewName)
	if err != nil {
		return fmt.Errorf("rename agent %q: %w", old, err)
	}
	renameLocalRecords(f, rec)
	res := renameResult{Kind: "agent", ID: string(rec.ID), OldName: old, NewName: rec.Name, Offline: offline}
	return Emit(f.IO, f.Format(), func(w io.Writer) error {
		note := ""
		if offline {
			note = " (host offline: written beside it, applied at its next start)"
		}
		logf(w, "Renamed agent %s to %s%s\n", core.Printable(old), core.Printable(rec.Name), note)
		return nil
	}, res, []any{map[string]any{"event": "renamed", "kind": res.Kind, "id": res.ID, "old_name": res.OldName, "new_name": res.NewName, "offline": res.Offline}})
}

// renameLocalRecords gives this machine's records of agent rec (the
// endpoint cache and origins.json) its new name.
func renameLocalRecords(f *Factory, rec core.AgentRecord) {
	newAgentCache(f).edit(func(m map[string]cachedAgent) {
		if e, ok := m[string(rec.ID)]; ok {
			e.Record.Name = rec.Name
			m[string(rec.ID)] = e
		}
	})
	o := newAgentOrigins(f)
	m := o.load()
	if e, ok := m[rec.ID]; ok && e.Name != rec.Name {
		e.Name = rec.Name
		m[rec.ID] = e
		_ = o.save(m) // a hint for local actions; the host's record has the name
	}
}

func runRenameHost(ctx context.Context, opts *renameOptions) error {
	f := opts.f
	hostName, provName, _ := strings.Cut(opts.Target, ".")
	if hostName == "" {
		return core.WithHint(fmt.Errorf("invalid host %q: %w", opts.Target, core.ErrInvalidInput), "write HOST or HOST.PROVIDER")
	}
	if err := core.ValidateName("host", opts.NewName); err != nil {
		return err
	}
	names, err := f.ProviderNames()
	if err != nil {
		return err
	}
	if provName != "" {
		names = []string{provName}
	}
	type found struct {
		prov  string
		p     core.Provider
		host  core.DiscoveredHost
		hosts []core.DiscoveredHost
	}
	var matches []found
	var listErrs []string
	for _, n := range names {
		p, err := f.Provider(ctx, n)
		if err == nil {
			var hosts []core.DiscoveredHost
			if hosts, err = p.ListHosts(ctx); err == nil {
				for _, h := range hosts {
					if h.Name == hostName || string(h.ID) == hostName {
						matches = append(matches, found{n, p, h, hosts})
					}
				}
				continue
			}
		}
		if provName != "" || !errors.Is(err, core.ErrUnavailable) || !implicitProvider(f, n) {
			listErrs = append(listErrs, fmt.Sprintf("%s: %s", n, core.Describe(err)))
		}
	}
	switch {
	case len(matches) == 0 && len(listErrs) > 0:
		return core.WithHint(fmt.Errorf("no host named %q (and provider error(s): %s): %w", hostName, strings.Join(listErrs, "; "), core.ErrNotFound),
			"fix the provider error, then run: mngr list --hosts")
	case len(matches) == 0:
		// The local host is listed only once something used it; before
		// that, its name still names it, and it cannot be renamed either.
		for _, n := range names {
			if p, err := f.Provider(ctx, n); err == nil && core.CapabilitiesOf(p).HostIsThisMachine && hostName == "localhost" {
				if _, ok := p.(core.HostRenamer); !ok {
					return core.WithHint(fmt.Errorf("provider %q cannot rename hosts: %w", n, core.ErrNotSupported), "the local host is always called localhost")
				}
			}
		}
		return core.WithHint(fmt.Errorf("no host named %q: %w", hostName, core.ErrNotFound), "run 'mngr list --hosts' to see the hosts")
	case len(matches) > 1:
		var where []string
		for _, m := range matches {
			where = append(where, m.host.Name+"."+m.prov+" ("+string(m.host.ID)+")")
		}
		return core.WithHint(fmt.Errorf("host %q matches %d hosts (%s): %w", hostName, len(matches), strings.Join(where, ", "), core.ErrConflict),
			"name it HOST.PROVIDER, or by its id")
	}
	m := matches[0]
	for _, h := range m.hosts {
		if h.Name == opts.NewName && h.ID != m.host.ID {
			return core.WithHint(fmt.Errorf("host name %q is taken on provider %s by %s: %w", opts.NewName, m.prov, h.ID, core.ErrConflict), "pick another name")
		}
	}
	hr, ok := m.p.(core.HostRenamer)
	if !ok {
		hint := "its hosts keep the names they were made with"
		if core.CapabilitiesOf(m.p).HostIsThisMachine {
			hint = "the local host is always called localhost"
		}
		return core.WithHint(fmt.Errorf("provider %q cannot rename hosts: %w", m.prov, core.ErrNotSupported), "%s", hint)
	}
	done := core.ProgressFrom(ctx).Step("renaming host " + m.host.Name)
	err = hr.RenameHost(ctx, m.host.ID, opts.NewName)
	done(err)
	if err != nil {
		return err
	}
	newAgentCache(f).edit(func(c map[string]cachedAgent) {
		for k, e := range c {
			if e.Provider == m.prov && e.HostName == m.host.Name {
				e.HostName = opts.NewName
				c[k] = e
			}
		}
	})
	offline := m.host.State != core.HostRunning
	res := renameResult{Kind: "host", ID: string(m.host.ID), OldName: m.host.Name, NewName: opts.NewName, Offline: offline}
	return Emit(f.IO, f.Format(), func(w io.Writer) error {
		logf(w, "Renamed host %s to %s on %s\n", core.Printable(m.host.Name), core.Printable(opts.NewName), m.prov)
		return nil
	}, res, []any{map[string]any{"event": "renamed", "kind": res.Kind, "id": res.ID, "old_name": res.OldName, "new_name": res.NewName, "offline": res.Offline}})
}
