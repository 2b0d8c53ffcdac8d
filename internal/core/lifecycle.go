package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// This file holds the product rules of stop, start and destroy: which
// hosts go with their agents, which are kept, what is started first. The
// CLI verbs resolve names to AgentRefs, call one of these and print the
// Report; they decide nothing themselves.

// AgentRef is one agent found on a provider's host: what the use cases act on.
type AgentRef struct {
	// ProviderName is the provider instance the agent's host belongs to.
	ProviderName string
	Provider     Provider
	Host         DiscoveredHost
	// Online is the connected host, nil when the host is offline.
	Online    *Host
	Record    AgentRecord
	State     AgentState
	StartTime *time.Time
	// LastActivity is the newest activity of the agent or its host (nil
	// when unknown: an offline host, or none recorded).
	LastActivity *time.Time
}

// Running says whether the agent's processes are alive.
func (s AgentState) Running() bool {
	switch s {
	case AgentStopped, AgentDone, "":
		return false
	}
	return true
}

// Reach returns the agent's host online. An offline host is started first
// when start is set and the provider can start hosts; otherwise the error
// wraps ErrHostOffline with how to bring it back.
func (r *AgentRef) Reach(ctx context.Context, start bool) (*Host, error) {
	if r.Online != nil {
		return r.Online, nil
	}
	hs, ok := r.Provider.(HostStopper)
	if !start || !ok {
		hint := fmt.Sprintf("start it with 'mngr start %s'", r.Record.Name)
		if r.Host.StateHint != "" {
			hint = r.Host.StateHint
		}
		return nil, WithHint(fmt.Errorf("host %q of agent %q is %s: %w", r.Host.Name, r.Record.Name, r.Host.State, ErrHostOffline), "%s", hint)
	}
	done := ProgressFrom(ctx).Step("starting host " + r.Host.Name)
	h, err := hs.StartHost(ctx, r.Host.ID)
	done(err)
	if err != nil {
		return nil, fmt.Errorf("start host %q: %w", r.Host.Name, err)
	}
	r.Online = h
	r.Host = h.DiscoveredHost
	StartBootAgents(ctx, h, r.Record.ID)
	return h, nil
}

// StartBootAgents starts, on a host mngr has just started, the agents
// marked start_on_boot (mngr limit AGENT --start-on-boot) that are not
// running, except the agent the host was started for (its own start
// follows). A failure is a warning: the host is up either way.
func StartBootAgents(ctx context.Context, h *Host, except AgentID) {
	prog := ProgressFrom(ctx)
	statuses, err := ListAgentsWithin(ctx, h, 0)
	if err != nil {
		prog.Warn(fmt.Sprintf("host %s: could not look for agents that start with it: %v", h.Name, err))
		return
	}
	for _, st := range statuses {
		if !st.Record.StartOnBoot || st.Record.ID == except || st.State.Running() {
			continue
		}
		done := prog.Step("starting agent " + st.Record.Name + " (it starts with its host)")
		err := StartAgent(ctx, h, h.Prefix(), st.Record)
		done(err)
		if err != nil {
			prog.Warn(fmt.Sprintf("agent %s starts with its host, but its start failed: %v; start it with 'mngr start %s'", st.Record.Name, err, st.Record.Name))
		}
	}
}

// ListAgentsWithin lists the agents of a connected host within limit
// (DefaultHostListTimeout when limit is not positive), so a host that
// answered its reach check and then hangs costs at most that long and
// becomes an ErrTimeout with a next step.
func ListAgentsWithin(ctx context.Context, h *Host, limit time.Duration) ([]AgentStatus, error) {
	if limit <= 0 {
		limit = DefaultHostListTimeout
	}
	lctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	sts, err := ListAgents(lctx, h, h.Prefix())
	switch {
	case err == nil:
		return sts, nil
	case errors.Is(lctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, WithHint(fmt.Errorf("list agents on host %q: it answered ssh but not the agent listing within %s: %w",
			h.Name, limit, ErrTimeout),
			"the host may be overloaded or stuck: run the command again in a minute; if it stays stuck, restart it with `mngr stop <agent>` then `mngr start <agent>` for one of its agents")
	default:
		return nil, fmt.Errorf("list agents on host %q: %w", h.Name, err)
	}
}

// StopOptions says how far StopAgents goes beyond the agents.
type StopOptions struct {
	// StopHost stops each agent's host on any provider that can stop hosts,
	// even one that keeps hosts running, and even while other agents run there.
	StopHost bool
	// KeepHost never stops a host (but a powered-off host still billing is
	// not stopped either).
	KeepHost bool
	// ListTimeout bounds the check for other running agents on a host
	// (DefaultHostListTimeout when zero).
	ListTimeout time.Duration
}

// StopAgents stops each agent (TERM, then KILL, then its tmux session).
// Then a host goes too, through the provider, when the provider can stop
// hosts and: it stops hosts with their agents (a billed cloud VM) or
// opts.StopHost asks, and no other agent runs on it (unless opts.StopHost);
// or it is powered off from inside and still billing. opts.KeepHost keeps
// every host.
func StopAgents(ctx context.Context, refs []AgentRef, opts StopOptions) Report {
	prog := ProgressFrom(ctx)
	var rep Report
	var order []HostID
	hostsToStop := map[HostID]AgentRef{}
	for _, r := range refs {
		if r.Online != nil {
			done := prog.Step("stopping agent " + r.Record.Name)
			err := StopAgent(ctx, r.Online, r.Online.Prefix(), r.Record)
			done(err)
			if err != nil {
				rep.fail(NewFailure(fmt.Errorf("stop agent %q: %w", r.Record.Name, err), r.Record.Name, r.Host.ID, ""))
				continue
			}
		}
		rep.succeed(r.Record.Name)
		if opts.KeepHost {
			continue
		}
		if _, ok := r.Provider.(HostStopper); !ok {
			continue
		}
		// A host powered off from inside still bills until it is stopped
		// through the provider (on Azure: deallocated), so it is stopped
		// although it is offline.
		billing := r.Host.State == HostStoppedBilling
		wanted := opts.StopHost || CapabilitiesOf(r.Provider).StopsHostWithAgents
		if (r.Online != nil && wanted) || billing {
			if _, seen := hostsToStop[r.Host.ID]; !seen {
				order = append(order, r.Host.ID)
			}
			hostsToStop[r.Host.ID] = r
		}
	}
	for _, id := range order {
		r := hostsToStop[id]
		// Keep a host that still runs other agents unless StopHost says so.
		if !opts.StopHost && r.Online != nil {
			sts, err := ListAgentsWithin(ctx, r.Online, opts.ListTimeout)
			if err == nil && anyRunning(sts) {
				prog.Warn(fmt.Sprintf("host %s keeps running: other agents run on it (use --stop-host to stop it anyway)", r.Host.Name))
				continue
			}
		}
		done := prog.Step("stopping host " + r.Host.Name)
		err := r.Provider.(HostStopper).StopHost(ctx, id)
		done(err)
		if err != nil {
			rep.failHost(NewFailure(fmt.Errorf("stop host %q: %w", r.Host.Name, err), r.Record.Name, id, CategoryHostResourceRemains))
		}
	}
	return rep
}

func anyRunning(sts []AgentStatus) bool {
	for _, s := range sts {
		if s.State.Running() {
			return true
		}
	}
	return false
}

// StartOptions tunes StartAgents.
type StartOptions struct {
	// Restart stops an agent that is running before starting it again.
	Restart bool
}

// StartAgents starts each agent in its tmux session, starting its host
// first when the host is offline and the provider can start hosts. An
// agent already running is left alone unless opts.Restart; a DONE one (its
// CLI exited) is started again.
func StartAgents(ctx context.Context, refs []AgentRef, opts StartOptions) Report {
	prog := ProgressFrom(ctx)
	var rep Report
	for i := range refs {
		r := &refs[i]
		wasOffline := r.Online == nil
		mirrored := r.Host.Agents != nil
		h, err := r.Reach(ctx, true)
		// A DONE agent's CLI exited and left its shell: its session goes, so
		// the start runs the CLI again.
		if err == nil && !wasOffline && ((opts.Restart && r.State.Running()) || r.State == AgentDone) {
			done := prog.Step("stopping agent " + r.Record.Name)
			err = StopAgent(ctx, h, h.Prefix(), r.Record)
			done(err)
		}
		if err == nil && wasOffline && mirrored {
			// A label or rename made while the host was offline went to
			// the provider's mirror only: it wins over the host's record.
			r.Record, err = SyncAgentRecord(ctx, h, r.Record)
		}
		if err == nil {
			done := prog.Step("starting agent " + r.Record.Name)
			err = StartAgent(ctx, h, h.Prefix(), r.Record)
			done(err)
		}
		if err != nil {
			rep.fail(NewFailure(fmt.Errorf("start agent %q: %w", r.Record.Name, err), r.Record.Name, r.Host.ID, ""))
			continue
		}
		rep.succeed(r.Record.Name)
		// Later agents of the same host reuse the started host.
		for j := i + 1; j < len(refs); j++ {
			if refs[j].Online == nil && refs[j].ProviderName == r.ProviderName && refs[j].Host.ID == r.Host.ID {
				refs[j].Online, refs[j].Host = h, r.Host
			}
		}
	}
	return rep
}

// DestroyOptions tunes DestroyAgents.
type DestroyOptions struct {
	// SkipGC skips the garbage collection that follows.
	SkipGC bool
	// ListTimeout bounds the check for agents left on a host
	// (DefaultHostListTimeout when zero).
	ListTimeout time.Duration
}

// DestroyAgents destroys each agent: its processes, tmux session and state
// dir (and the persisted record a provider keeps). An agent on an offline
// host goes with its whole host, unless the host is shared (it is then an
// error). A host left with no agent is destroyed when its provider
// destroys empty hosts. Then every provider involved collects garbage,
// unless opts.SkipGC; a gc failure is only a warning.
func DestroyAgents(ctx context.Context, refs []AgentRef, opts DestroyOptions) Report {
	prog := ProgressFrom(ctx)
	var rep Report
	var provOrder []string
	providers := map[string]Provider{}
	var hostOrder []HostID
	touchedHosts := map[HostID]AgentRef{}
	destroyedHosts := map[HostID]bool{}
	for _, r := range refs {
		if _, seen := providers[r.ProviderName]; !seen {
			provOrder = append(provOrder, r.ProviderName)
			providers[r.ProviderName] = r.Provider
		}
		caps := CapabilitiesOf(r.Provider)
		left := LeftoversFrom(ctx)
		left.Add(Leftover{Key: string(r.Record.ID), Kind: "agent", Name: r.Record.Name + " (half destroyed)",
			Remove: "mngr destroy -f " + r.Record.Name})
		var err error
		switch {
		case r.Online != nil:
			done := prog.Step("destroying agent " + r.Record.Name)
			err = DestroyAgent(ctx, r.Online, r.Online.Prefix(), r.Record)
			done(err)
			if _, seen := touchedHosts[r.Host.ID]; err == nil && caps.DestroysEmptyHosts && !seen {
				hostOrder = append(hostOrder, r.Host.ID)
				touchedHosts[r.Host.ID] = r
			}
		case destroyedHosts[r.Host.ID]:
		case caps.SharedHost:
			err = WithHint(fmt.Errorf("shared host %q is not reachable: %w", r.Host.Name, ErrHostOffline),
				"bring the host back, then destroy the agent again")
		default:
			done := prog.Step("destroying offline host " + r.Host.Name)
			err = r.Provider.DestroyHost(ctx, r.Host.ID)
			done(err)
			if err == nil {
				destroyedHosts[r.Host.ID] = true
			}
		}
		if err == nil {
			if ap, ok := r.Provider.(AgentPersister); ok {
				if perr := ap.RemovePersistedAgent(ctx, r.Host.ID, r.Record.ID); perr != nil && !destroyedHosts[r.Host.ID] && !errors.Is(perr, ErrNotSupported) {
					prog.Warn(fmt.Sprintf("could not remove the persisted record of %s: %v", r.Record.Name, perr))
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				err = WithHint(fmt.Errorf("%w (interrupted: run `mngr destroy -f %s` again to finish)", err, r.Record.Name),
					"the agent may be half removed: run `mngr destroy -f %s` again to finish", r.Record.Name)
			}
			rep.fail(NewFailure(fmt.Errorf("destroy agent %q: %w", r.Record.Name, err), r.Record.Name, r.Host.ID, ""))
			continue
		}
		left.Forget(string(r.Record.ID))
		rep.succeed(r.Record.Name)
	}
	// A host whose agents are gone is finished even when an interrupt comes
	// (before or during its delete): it would otherwise stay, billed, with
	// nothing on it. Its own bounded context ignores the first interrupt; a
	// second one names it (Leftovers) and stops mngr.
	hctx, cancel := UndoContext(ctx, UndoTimeout)
	defer cancel()
	for _, id := range hostOrder {
		r := touchedHosts[id]
		LeftoversFrom(ctx).Add(Leftover{Key: string(id), Kind: "host without agents", Name: r.Host.Name,
			Remove: "mngr gc --provider " + r.ProviderName})
		sts, err := ListAgentsWithin(hctx, r.Online, opts.ListTimeout)
		if err != nil {
			rep.failHost(NewFailure(err, "", id, CategoryHostResourceRemains))
			continue
		}
		if len(sts) > 0 {
			LeftoversFrom(ctx).Forget(string(id))
			continue
		}
		done := prog.Step("destroying empty host " + r.Host.Name)
		err = r.Provider.DestroyHost(hctx, id)
		done(err)
		if err != nil {
			rep.failHost(NewFailure(fmt.Errorf("destroy host %q: %w", r.Host.Name, err), "", id, CategoryHostResourceRemains))
		}
	}
	if !opts.SkipGC && ctx.Err() == nil {
		for _, name := range provOrder {
			gcer, ok := providers[name].(GarbageCollector)
			if !ok {
				continue
			}
			done := prog.Step("collecting garbage on " + name)
			_, err := gcer.CollectGarbage(ctx, false)
			done(err)
			if err != nil {
				prog.Warn(fmt.Sprintf("gc on %s: %v", name, err))
			}
		}
	}
	return rep
}
