package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

type limitOptions struct {
	f *Factory

	Agents []string
	Hosts  []string
	Idle   idleFlags
	// StartOnBoot is --start-on-boot; setBoot says it was given.
	StartOnBoot bool
	setBoot     bool
}

func newCmdLimit(f *Factory, runF func(*limitOptions) error) *cobra.Command {
	opts := &limitOptions{f: f}
	cmd := &cobra.Command{
		Use:   "limit [AGENT...|-] [--host HOST[.PROVIDER]] [--idle-timeout D] [--idle-mode M] [--activity-sources a,b | --add-activity-source X | --remove-activity-source X] [--start-on-boot[=false]]",
		Short: "Show or change the idle policy of running hosts",
		Long: `Show or change when a host stops itself for lack of activity. The hosts
are those of the agents named (- reads names from stdin, one per line) and
those named with --host. With no change flag, limit prints each host's
policy; with one, it rewrites the policy file on the host (the host must be
running), and the host's idle watcher applies it at its next check (within
30 seconds).

A policy is a timeout and the activity sources that count: host-level boot,
user and ssh (mngr connect stamps ssh every 5 s while attached), agent-level
create, start, agent (claude's hooks) and process (every 5 s while the
agent's process lives). --idle-mode picks a preset: io (user, agent, ssh,
create, start, boot; the default), run (create, start, boot, process), one
of the single sources, or disabled (never stop). Durations are
` + core.DurationForms + `.

On the local provider the policy is recorded but not enforced: the local
host is this machine, and mngr never stops it.

--start-on-boot marks the agents named (with --host: every agent of the
host) to start whenever mngr starts their host: when another agent of it
is started, a create lands on it, or exec or message wake it. A VM started
outside mngr (Azure's own restart) starts no agent until mngr reaches it.
--start-on-boot=false takes the mark away.`,
		ValidArgsFunction: completeAgentNames(f, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := namesFromArgs(cmd, args)
			if err != nil {
				return err
			}
			opts.Agents = names
			opts.setBoot = cmd.Flags().Changed("start-on-boot")
			if len(opts.Agents) == 0 && len(opts.Hosts) == 0 {
				return usageErrorf("limit needs an agent or --host HOST")
			}
			if runF != nil {
				return runF(opts)
			}
			return runLimit(cmd.Context(), opts)
		},
		Example: `  # Show the idle policy of an agent's host
  mngr limit my-agent

  # Stop the host after 20 minutes without activity
  mngr limit --host my-agent-host --idle-timeout 20m

  # Keep a host running while its agents' processes live
  mngr limit my-agent --idle-mode run

  # Never stop the hosts of the agents named on stdin, one per line
  printf '%s\n' agent-a agent-b | mngr limit - --idle-mode disabled

  # Start the reviewer whenever mngr starts its host for another agent
  mngr limit reviewer --start-on-boot`,
	}
	cmd.Flags().StringArrayVar(&opts.Hosts, "host", nil, "a host to show or change, HOST or HOST.PROVIDER (repeatable)")
	addIdleFlags(cmd.Flags(), &opts.Idle, true)
	cmd.Flags().BoolVar(&opts.StartOnBoot, "start-on-boot", false, "start the agents named (with --host: all of the host's) whenever mngr starts their host; =false to stop that")
	return cmd
}

// limitHost is one host in limit's result.
type limitHost struct {
	Host     string      `json:"host"`
	HostID   core.HostID `json:"host_id"`
	Provider string      `json:"provider_name"`
	core.IdlePolicy
	// Enforced is false when the policy never stops the host (disabled, or
	// a provider that never stops its host).
	Enforced bool `json:"enforced"`
	Changed  bool `json:"changed"`
	// IdleSeconds is how long the host has had no activity of its
	// sources, when known.
	IdleSeconds *int64 `json:"idle_seconds"`
}

// limitAgent is one agent whose start-on-boot mark limit set.
type limitAgent struct {
	Agent       string       `json:"agent"`
	AgentID     core.AgentID `json:"agent_id"`
	Host        string       `json:"host"`
	StartOnBoot bool         `json:"start_on_boot"`
}

// limitResult is limit's JSON result.
type limitResult struct {
	Hosts  []limitHost  `json:"hosts"`
	Agents []limitAgent `json:"agents"`
}

func runLimit(ctx context.Context, opts *limitOptions) error {
	f := opts.f
	change, err := opts.Idle.change()
	if err != nil {
		return err
	}
	targets, agentRefs, err := limitTargets(ctx, f, opts)
	if err != nil {
		return err
	}
	res := limitResult{Hosts: []limitHost{}, Agents: []limitAgent{}}
	if opts.setBoot {
		if res.Agents, err = setStartOnBoot(ctx, opts, targets, agentRefs); err != nil {
			return err
		}
	}
	warned := map[string]bool{}
	for _, t := range targets {
		h, err := t.online(ctx)
		if err != nil {
			return err
		}
		var pol core.IdlePolicy
		if change.Empty() {
			pol, err = core.CurrentIdlePolicy(ctx, t.Provider, h)
		} else {
			if !warned[t.ProviderName] {
				warnIdleNotEnforced(ctx, t.Provider, t.ProviderName)
				warned[t.ProviderName] = true
			}
			pol, err = core.ChangeIdlePolicy(ctx, t.Provider, h, change)
		}
		if err != nil {
			return fmt.Errorf("host %q: %w", h.Name, err)
		}
		_, enforcing := t.Provider.(core.IdlePolicyDefaulter)
		lh := limitHost{Host: h.Name, HostID: h.ID, Provider: t.ProviderName, IdlePolicy: pol,
			Enforced: enforcing && pol.Enforced(), Changed: !change.Empty()}
		if act, err := core.ReadHostActivity(ctx, h); err == nil {
			if last, ok := act.Newest(pol.Sources); ok {
				idle := int64(time.Since(last) / time.Second)
				lh.IdleSeconds = &idle
			}
		}
		res.Hosts = append(res.Hosts, lh)
	}
	events := make([]any, 0, len(res.Hosts))
	for _, h := range res.Hosts {
		events = append(events, struct {
			Event string `json:"event"`
			limitHost
		}{"limit", h})
	}
	for _, a := range res.Agents {
		events = append(events, struct {
			Event string `json:"event"`
			limitAgent
		}{"start_on_boot", a})
	}
	return Emit(f.IO, f.Format(), func(w io.Writer) error {
		for _, a := range res.Agents {
			state := "now starts"
			if !a.StartOnBoot {
				state = "no longer starts"
			}
			if _, err := fmt.Fprintf(w, "Agent %s %s whenever mngr starts its host %s\n", a.Agent, state, a.Host); err != nil {
				return err
			}
		}
		for _, h := range res.Hosts {
			verb := "has"
			if h.Changed {
				verb = "now has"
			}
			line := fmt.Sprintf("Host %s [%s] %s idle policy: %s", h.Host, h.Provider, verb, h.String())
			if h.IdleSeconds != nil && h.IdlePolicy.Enforced() {
				line += fmt.Sprintf("; idle for %s", core.FormatSeconds(int(*h.IdleSeconds)))
			}
			if !h.Enforced && h.IdlePolicy.Enforced() {
				line += " (recorded, not enforced: this provider never stops its host)"
			}
			logf(w, "%s\n", line)
		}
		return nil
	}, res, events)
}

// limitTargets resolves limit's agents and --host addresses to their hosts,
// each once.
func limitTargets(ctx context.Context, f *Factory, opts *limitOptions) ([]hostRef, []core.AgentRef, error) {
	var out []hostRef
	var agents []core.AgentRef
	seen := map[string]bool{}
	add := func(r hostRef) {
		k := r.ProviderName + "/" + string(r.Host.ID)
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	if len(opts.Agents) > 0 {
		refs, err := resolveAgents(ctx, f, opts.Agents)
		if err != nil {
			return nil, nil, err
		}
		agents = refs
		for _, r := range refs {
			if r.Online == nil {
				return nil, nil, core.WithHint(fmt.Errorf("host %q of agent %q is %s: %w", r.Host.Name, r.Record.Name, r.Host.State, core.ErrHostOffline),
					"start it with 'mngr start %s' first (a stopped host has no idle watcher to change)", r.Record.Name)
			}
			add(hostRef{ProviderName: r.ProviderName, Provider: r.Provider, Host: r.Host})
		}
	}
	for _, hs := range opts.Hosts {
		r, err := findHost(ctx, f, hs)
		if err != nil {
			return nil, nil, err
		}
		if r.Host.State != core.HostRunning {
			return nil, nil, core.WithHint(fmt.Errorf("host %q is %s: %w", r.Host.Name, strings.ToLower(string(r.Host.State)), core.ErrHostOffline),
				"start one of its agents with 'mngr start AGENT' first (a stopped host has no idle watcher to change)")
		}
		add(r)
	}
	return out, agents, nil
}

// setStartOnBoot sets the start-on-boot mark of the agents named, and of
// every agent of the hosts named with --host, in their records and in
// their provider's mirror.
func setStartOnBoot(ctx context.Context, opts *limitOptions, targets []hostRef, refs []core.AgentRef) ([]limitAgent, error) {
	out := []limitAgent{}
	done := map[core.AgentID]bool{}
	set := func(h *core.Host, prov core.Provider, id core.AgentID) error {
		if done[id] {
			return nil
		}
		done[id] = true
		rec, err := core.SetAgentStartOnBoot(ctx, h, id, opts.StartOnBoot)
		if err != nil {
			return err
		}
		if err := core.PersistRecord(ctx, prov, h.ID, rec); err != nil {
			core.ProgressFrom(ctx).Warn(err.Error())
		}
		out = append(out, limitAgent{Agent: rec.Name, AgentID: rec.ID, Host: h.Name, StartOnBoot: rec.StartOnBoot})
		return nil
	}
	for _, r := range refs {
		if err := set(r.Online, r.Provider, r.Record.ID); err != nil {
			return nil, fmt.Errorf("agent %q: %w", r.Record.Name, err)
		}
	}
	if len(opts.Hosts) == 0 {
		return out, nil
	}
	for _, t := range targets {
		if !slices.ContainsFunc(opts.Hosts, func(hs string) bool {
			name, _, _ := strings.Cut(hs, ".")
			return name == t.Host.Name || name == string(t.Host.ID)
		}) {
			continue
		}
		h, err := t.online(ctx)
		if err != nil {
			return nil, err
		}
		statuses, err := core.ListAgentsWithin(ctx, h, 0)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", h.Name, err)
		}
		for _, st := range statuses {
			if err := set(h, t.Provider, st.Record.ID); err != nil {
				return nil, fmt.Errorf("agent %q: %w", st.Record.Name, err)
			}
		}
	}
	return out, nil
}
