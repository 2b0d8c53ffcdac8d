package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mngr-azure/mngr/internal/core"
)

// maxParallelHosts bounds how many running hosts are probed over SSH at
// once. A probe mostly waits on the network (connect, handshake, two short
// commands, or a dead host's reach timeout), so the bound is about sockets
// and memory, not CPU: 64 probes hold 64 connections and a few MB, far below
// the usual 1024 open files, and list 64 running hosts in one probe round
// (issue #7's 30 running hosts needed 4 waves of 8: 1.84 probe rounds in
// TestList50HostsScale, 1.00 with 64). Offline hosts take no slot: they are
// listed from their records without SSH.
const maxParallelHosts = 64

// hostListTimeout bounds listing the agents of a host that passed its reach
// check (ConnectHost), so a host that answers `echo ok` and then hangs costs
// `mngr list` at most this long and shows up as that host's error while the
// other hosts list. A variable so tests can shorten it.
var hostListTimeout = core.DefaultHostListTimeout

// address is NAME|ID[@HOST[.PROVIDER]]; create's also takes :PATH.
type address struct {
	Name, Host, Provider string
	// Path is the work dir asked for with :PATH (create only).
	Path string
}

func (a address) String() string {
	s := a.Name
	if a.Host != "" || a.Provider != "" {
		s += "@" + a.Host
		if a.Provider != "" {
			s += "." + a.Provider
		}
	}
	return s
}

// parseAddress splits NAME[@HOST[.PROVIDER]]; allowEmptyName is for create.
func parseAddress(s string, allowEmptyName bool) (address, error) {
	var a address
	if allowEmptyName {
		var hasPath bool
		if s, a.Path, hasPath = strings.Cut(s, ":"); hasPath && a.Path == "" {
			return a, core.WithHint(fmt.Errorf("invalid address %q: empty path after ':': %w", s+":", core.ErrInvalidInput),
				"write NAME:PATH with the work dir to use, or leave out the ':'")
		}
	}
	name, rest, hasAt := strings.Cut(s, "@")
	a.Name = name
	if hasAt {
		a.Host, a.Provider, _ = strings.Cut(rest, ".")
		if a.Host == "" && a.Provider == "" {
			return a, core.WithHint(fmt.Errorf("invalid address %q: empty host: %w", s, core.ErrInvalidInput),
				"write NAME@HOST or NAME@HOST.PROVIDER (or NAME@.PROVIDER for a new host)")
		}
		if a.Host != "" {
			if err := core.ValidateName("host", a.Host); err != nil {
				return a, err
			}
		}
		if a.Provider != "" {
			if err := core.ValidateName("provider", a.Provider); err != nil {
				return a, err
			}
		}
	}
	if a.Name == "" {
		if allowEmptyName {
			return a, nil
		}
		return a, core.WithHint(fmt.Errorf("invalid address %q: no agent name: %w", s, core.ErrInvalidInput),
			"write NAME[@HOST[.PROVIDER]]")
	}
	if _, err := core.ParseAgentID(a.Name); err == nil {
		return a, nil
	}
	if err := core.ValidateName("agent", a.Name); err != nil {
		return a, err
	}
	return a, nil
}

// agentRef is one agent found on a provider's host (core.AgentRef).
type agentRef = core.AgentRef

// implicitProvider is true for a backend's default instance that has no
// [providers.NAME] block in the settings.
func implicitProvider(f *Factory, name string) bool {
	c, err := f.Config()
	if err != nil {
		return false
	}
	_, configured := c.Provider(name)
	return !configured
}

// gatherError is one provider or host that could not be listed.
type gatherError struct {
	ExceptionType string `json:"exception_type"`
	Message       string `json:"message"`
	// Hint is the next step the human output prints under the error.
	Hint         string `json:"hint,omitempty"`
	ProviderName string `json:"provider_name,omitempty"`
	err          error
}

// newGatherError reports err for provider, with its next step.
func newGatherError(err error, provider string) gatherError {
	return gatherError{ExceptionType: errorClass(err), Message: core.Describe(err), Hint: core.HintOf(err), ProviderName: provider, err: err}
}

// gatherAgents lists the agents of every active provider (or only those in
// only). Unavailable providers are reported through warn and skipped.
func gatherAgents(ctx context.Context, f *Factory, only []string, warn func(string)) ([]agentRef, []gatherError, error) {
	return gather(ctx, f, only, warn, false)
}

// gather is gatherAgents; with fromRecords, a running host whose provider
// keeps its agents' records beside it (VM tags) is read from those records
// instead of over SSH, so a command that only needs an agent's record and
// its host's address (git, rsync) costs no SSH round before its own.
func gather(ctx context.Context, f *Factory, only []string, warn func(string), fromRecords bool) ([]agentRef, []gatherError, error) {
	refs, _, errs, err := gatherWithOrphans(ctx, f, only, warn, fromRecords)
	return refs, errs, err
}

// orphanHost is a host on which no agent was found, of a provider whose
// hosts go with their last agent and that keeps agent records beside its
// hosts (a cloud VM): the remains of an interrupted create, or a host
// whose agents are gone. It bills until it is removed.
type orphanHost struct {
	ResourceType string         `json:"resource_type"`
	ID           core.HostID    `json:"id"`
	Name         string         `json:"name"`
	ProviderName string         `json:"provider_name"`
	State        core.HostState `json:"state"`
	// Billing says what of it still costs money.
	Billing string `json:"billing"`
	// RemoveWith is the command that removes it.
	RemoveWith string `json:"remove_with"`
	// When says when that command removes it.
	When string `json:"when"`
	// Role is what mngr made it for, when not for agents (an image builder).
	Role string `json:"role,omitempty"`
}

// newOrphanHost describes the agentless host h of provider prov.
func newOrphanHost(prov string, h core.DiscoveredHost) orphanHost {
	billing := "compute, OS disk and public IP"
	switch h.State {
	case core.HostStopped:
		billing = "OS disk and public IP (no compute: deallocated)"
	case core.HostFailed:
		billing = "OS disk and public IP"
	}
	o := orphanHost{ResourceType: "orphan_host", ID: h.ID, Name: h.Name, ProviderName: prov, State: h.State, Billing: billing,
		RemoveWith: "mngr gc --provider " + prov,
		When:       "at once when the create that made it ran on this machine and has ended; otherwise 30 minutes after it was made",
		Role:       h.Role}
	if h.Role != "" {
		o.When = "its bake deletes it when it ends; gc removes it at once when that bake ran on this machine and was interrupted, otherwise 30 minutes after it was made"
	}
	return o
}

// gatherWithOrphans is gather, plus the hosts on which no agent was found
// (orphanHost).
func gatherWithOrphans(ctx context.Context, f *Factory, only []string, warn func(string), fromRecords bool) ([]agentRef, []orphanHost, []gatherError, error) {
	refs, orphans, errs, _, err := gatherHosts(ctx, f, only, warn, fromRecords)
	return refs, orphans, errs, err
}

// seenHost is one host a listing found, with its provider and how many
// of its agents were listed (Listed false: its agents could not be listed).
type seenHost struct {
	ProviderName string
	Provider     core.Provider
	Host         core.DiscoveredHost
	Agents       int
	Listed       bool
}

// gatherHosts is gatherWithOrphans, plus every host found (agent-less
// ones included), in one listing round.
func gatherHosts(ctx context.Context, f *Factory, only []string, warn func(string), fromRecords bool) ([]agentRef, []orphanHost, []gatherError, []seenHost, error) {
	names, err := f.ProviderNames()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(only) > 0 {
		names = only
	}
	type hostJob struct {
		provName string
		prov     core.Provider
		host     core.DiscoveredHost
	}
	var (
		jobs []hostJob
		errs []gatherError
	)
	for _, n := range names {
		p, err := f.Provider(ctx, n)
		if errors.Is(err, core.ErrInvalidInput) || errors.Is(err, core.ErrNotFound) {
			// A bad provider block or name is the user's to fix first.
			return nil, nil, nil, nil, err
		}
		if errors.Is(err, core.ErrUnavailable) && len(only) == 0 && implicitProvider(f, n) {
			// A default instance nobody configured that cannot even be
			// built (say azure without any login) is skipped silently, as
			// on a machine without that cloud.
			continue
		}
		if err == nil {
			var hosts []core.DiscoveredHost
			hosts, err = p.ListHosts(ctx)
			for _, h := range hosts {
				jobs = append(jobs, hostJob{n, p, h})
			}
		}
		if errors.Is(err, core.ErrInvalidInput) && len(only) == 0 && implicitProvider(f, n) {
			// A default instance nobody configured, whose default
			// resource group or subscription does not exist: nothing
			// of mngr's is there. A configured one is an error below.
			continue
		}
		if errors.Is(err, core.ErrUnavailable) && len(only) == 0 {
			msg := fmt.Sprintf("provider %q is not available: %v", n, err)
			if h := core.HintOf(err); h != "" {
				msg += " (" + h + ")"
			}
			warn(msg)
			continue
		}
		if err != nil {
			errs = append(errs, newGatherError(err, n))
		}
	}
	results := make([][]agentRef, len(jobs))
	jobErrs := make([]*gatherError, len(jobs))
	sem := make(chan struct{}, maxParallelHosts)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if fromRecords && j.host.State == core.HostRunning && j.host.Agents != nil {
			for _, rec := range j.host.Agents {
				results[i] = append(results[i], agentRef{ProviderName: j.provName, Provider: j.prov, Host: j.host, Record: rec, State: core.AgentUnknown})
			}
			continue
		}
		if j.host.State != core.HostRunning {
			// No SSH: read the persisted records here, without a slot.
			results[i], _ = hostAgents(ctx, j.provName, j.prov, j.host)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			refs, err := hostAgents(ctx, j.provName, j.prov, j.host)
			if err != nil {
				ge := newGatherError(err, j.provName)
				jobErrs[i] = &ge
			}
			results[i] = refs
		}()
	}
	wg.Wait()
	var out []agentRef
	var orphans []orphanHost
	hosts := make([]seenHost, 0, len(jobs))
	for i, j := range jobs {
		out = append(out, results[i]...)
		sh := seenHost{ProviderName: j.provName, Provider: j.prov, Host: j.host, Agents: len(results[i]), Listed: jobErrs[i] == nil}
		if len(results[i]) > 0 {
			// The listing's view of the host (a VM found stopped on connect).
			sh.Host.State = results[i][0].Host.State
		}
		hosts = append(hosts, sh)
		if jobErrs[i] != nil {
			errs = append(errs, *jobErrs[i])
			continue
		}
		if len(results[i]) == 0 && j.host.Agents != nil && j.host.State != core.HostDestroyed &&
			core.CapabilitiesOf(j.prov).DestroysEmptyHosts {
			orphans = append(orphans, newOrphanHost(j.provName, j.host))
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Record.CreateTime.Before(out[b].Record.CreateTime) })
	return out, orphans, errs, hosts, nil
}

// hostAgents lists one host's agents: live for running hosts, from the
// provider's persisted records (state STOPPED) for offline ones.
func hostAgents(ctx context.Context, provName string, p core.Provider, dh core.DiscoveredHost) ([]agentRef, error) {
	offline := func() []agentRef {
		var refs []agentRef
		for _, rec := range dh.Agents {
			refs = append(refs, agentRef{ProviderName: provName, Provider: p, Host: dh, Record: rec, State: core.AgentStopped})
		}
		return refs
	}
	if dh.State != core.HostRunning {
		return offline(), nil
	}
	h, err := p.ConnectHost(ctx, dh.ID)
	if errors.Is(err, core.ErrHostOffline) {
		dh.State = core.HostStopped
		return offline(), nil
	}
	if err != nil {
		return offline(), fmt.Errorf("connect host %q: %w", dh.Name, err)
	}
	sts, err := core.ListAgentsWithin(ctx, h, hostListTimeout)
	if h.Exec == nil && errors.Is(err, core.ErrHostOffline) {
		// A host the provider gives no way in (a VM without host setup).
		return offline(), nil
	}
	if err != nil {
		return offline(), err
	}
	refs := make([]agentRef, 0, len(sts))
	for _, st := range sts {
		r := agentRef{ProviderName: provName, Provider: p, Host: h.DiscoveredHost, Online: h, Record: st.Record, State: st.State}
		r.StartTime, r.LastActivity = st.StartTime, st.LastActivity
		refs = append(refs, r)
	}
	return refs, nil
}

// resolveAgentRecord finds one agent for a command that needs only its
// record and its host (git, rsync): from the records kept beside running
// hosts when the provider keeps them, else (or when they do not name it
// exactly once) as resolveAgents does.
func resolveAgentRecord(ctx context.Context, f *Factory, addr string) (agentRef, error) {
	a, err := parseAddress(addr, false)
	if err != nil {
		return agentRef{}, err
	}
	var only []string
	if a.Provider != "" {
		only = []string{a.Provider}
	}
	all, gerrs, err := gather(ctx, f, only, func(string) {}, true)
	if err != nil {
		return agentRef{}, err
	}
	if r, err := matchAddress(all, gerrs, a); err == nil {
		return r, nil
	}
	refs, err := resolveAgents(ctx, f, []string{addr})
	if err != nil {
		return agentRef{}, err
	}
	return refs[0], nil
}

// resolveAgents finds the agent for each address; every address must match
// exactly one agent.
func resolveAgents(ctx context.Context, f *Factory, addrs []string) ([]agentRef, error) {
	refs, errs, err := resolveEachAgent(ctx, f, addrs)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	// An agent named twice (or by name and by NAME@HOST) is acted on once.
	seen := map[core.AgentID]bool{}
	uniq := refs[:0]
	for _, r := range refs {
		if !seen[r.Record.ID] {
			seen[r.Record.ID] = true
			uniq = append(uniq, r)
		}
	}
	return uniq, nil
}

// resolveEachAgent finds the agent for each address, for verbs that go on
// with the other agents when one is not found: refs[i] is valid when
// errs[i] is nil. err is for what fails them all (a malformed address, a
// bad provider block).
func resolveEachAgent(ctx context.Context, f *Factory, addrs []string) (refs []agentRef, errs []error, err error) {
	parsed := make([]address, 0, len(addrs))
	var only []string
	for _, s := range addrs {
		a, err := parseAddress(s, false)
		if err != nil {
			return nil, nil, err
		}
		parsed = append(parsed, a)
		if a.Provider != "" && !containsStr(only, a.Provider) {
			only = append(only, a.Provider)
		}
	}
	// Only narrow the search when every address names a provider.
	for _, a := range parsed {
		if a.Provider == "" {
			only = nil
			break
		}
	}
	all, gerrs, err := gatherAgents(ctx, f, only, func(string) {})
	if err != nil {
		return nil, nil, err
	}
	refs = make([]agentRef, len(parsed))
	errs = make([]error, len(parsed))
	for i, a := range parsed {
		refs[i], errs[i] = matchAddress(all, gerrs, a)
	}
	return refs, errs, nil
}

// matchAddress picks the one agent of all that address a names.
func matchAddress(all []agentRef, errs []gatherError, a address) (agentRef, error) {
	var matches []agentRef
	for _, r := range all {
		if (r.Record.Name == a.Name || string(r.Record.ID) == a.Name) &&
			(a.Host == "" || r.Host.Name == a.Host) && (a.Provider == "" || r.ProviderName == a.Provider) {
			matches = append(matches, r)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		err := fmt.Errorf("no agent named %q: %w", a.String(), core.ErrNotFound)
		if len(errs) > 0 {
			err = fmt.Errorf("no agent named %q (and %d provider error(s), first: %s): %w", a.String(), len(errs), errs[0].Message, core.ErrNotFound)
			// The agent may be on the provider that failed: its fix first
			// (a wrong subscription or resource group, say).
			if h := errs[0].Hint; h != "" {
				return agentRef{}, core.WithHint(err, "%s; then run 'mngr list' to see the agents", h)
			}
		}
		return agentRef{}, core.WithHint(err, "run 'mngr list' to see the agents and their names")
	default:
		var where, ids []string
		seen := map[string]bool{}
		sameHost := false
		for _, m := range matches {
			w := m.Record.Name + "@" + m.Host.Name + "." + m.ProviderName
			sameHost = sameHost || seen[w]
			seen[w] = true
			where = append(where, w+" (id "+string(m.Record.ID)+")")
			ids = append(ids, string(m.Record.ID))
		}
		err := fmt.Errorf("agent name %q matches %d agents (%s): %w", a.Name, len(matches), strings.Join(where, ", "), core.ErrConflict)
		if sameHost {
			// Duplicates on one host (left by an older mngr): only the id tells them apart.
			return agentRef{}, core.WithHint(err, "address one by its id, for example: mngr destroy %s", ids[0])
		}
		return agentRef{}, core.WithHint(err, "name the host too, for example %s, or address one by its id (%s)",
			strings.TrimSuffix(where[0], " (id "+ids[0]+")"), ids[0])
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
