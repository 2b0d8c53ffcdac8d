package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The use cases are tested over a fake Provider and a fake Executor: the
// executor plays a host by recognizing the agent layer's scripts (stop,
// remove, start, list) and keeping the agents' state in memory, so no
// tmux, shell or machine is involved.

// fakeAgentState is one agent on a fakeExec host.
type fakeAgentState struct {
	rec     AgentRecord
	running bool
}

// fakeExec is a host whose agents live in memory.
type fakeExec struct {
	mu     sync.Mutex
	host   string
	prefix string
	agents map[string]*fakeAgentState
	// stopExit makes the stop script of the named agent exit with a code.
	stopExit map[string]int
	// startErr makes every start script fail with a transport error.
	startErr error
	// hangList makes the agent listing wait for the context to end.
	hangList bool
	// readOnly makes removing an agent's files fail as on a read-only disk.
	readOnly bool
	// log records what ran, across hosts (shared by a test's hosts).
	log *[]string
}

var _ Executor = (*fakeExec)(nil)

func (e *fakeExec) record(s string) { *e.log = append(*e.log, s) }

// agentIn returns the agent whose session or id the script names.
func (e *fakeExec) agentIn(script string) *fakeAgentState {
	for _, a := range e.agents {
		if strings.Contains(script, ShellQuote(SessionName(e.prefix, a.rec.Name))+"\n") ||
			strings.Contains(script, "-s "+ShellQuote(SessionName(e.prefix, a.rec.Name))+" ") ||
			strings.Contains(script, string(a.rec.ID)) {
			return a
		}
	}
	return nil
}

func (e *fakeExec) Run(ctx context.Context, script string, _ RunOptions) (RunResult, error) {
	if strings.Contains(script, markRecord) {
		return e.list(ctx)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case strings.Contains(script, stopAgentSh):
		a := e.agentIn(script)
		if a == nil {
			return RunResult{}, nil // no session: stopping is a no-op
		}
		e.record(e.host + ": stop " + a.rec.Name)
		if code := e.stopExit[a.rec.Name]; code != 0 {
			return RunResult{ExitCode: code, Stderr: "processes remain: 4242"}, nil
		}
		a.running = false
	case strings.Contains(script, "rm -rf -- "):
		a := e.agentIn(script)
		if a == nil {
			return RunResult{ExitCode: 1, Stderr: "no such agent"}, nil
		}
		if e.readOnly {
			return RunResult{ExitCode: 1, Stderr: "rm: cannot remove 'agents/x/env': Read-only file system\nrm: cannot remove 'agents/x/data.json': Read-only file system\n"}, nil
		}
		e.record(e.host + ": remove " + a.rec.Name)
		delete(e.agents, a.rec.Name)
	case strings.Contains(script, "tmux new-session"):
		if e.startErr != nil {
			return RunResult{}, e.startErr
		}
		a := e.agentIn(script)
		if a == nil {
			return RunResult{ExitCode: 5, Stderr: "work dir is missing"}, nil
		}
		e.record(e.host + ": start " + a.rec.Name)
		a.running = true
	default:
		return RunResult{}, fmt.Errorf("fake host %s: unexpected script %q", e.host, script)
	}
	return RunResult{}, nil
}

// list answers the listing script: records, then window 0 of each running
// agent's session, running its command's process.
func (e *fakeExec) list(ctx context.Context) (RunResult, error) {
	if e.hangList {
		<-ctx.Done()
		return RunResult{}, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.agents))
	for n := range e.agents {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := json.Marshal(e.agents[n].rec)
		if err != nil {
			return RunResult{}, err
		}
		fmt.Fprintf(&b, "%s 0 -\n%s\n", markRecord, data)
	}
	b.WriteString(markPanes + "\n")
	for i, n := range names {
		if a := e.agents[n]; a.running {
			fmt.Fprintf(&b, "0|%d|0|%s|%s\n", 100+i, SessionName(e.prefix, n), expectedProcess(a.rec.Type, a.rec.Command))
		}
	}
	b.WriteString(markPS + "\n")
	return RunResult{Stdout: b.String()}, nil
}

func (e *fakeExec) InteractiveArgv(script string) []string { return []string{"fake", script} }

// fakeProvider is a provider of fakeExec hosts that can stop hosts,
// persist agents and collect garbage, and records what it was asked.
type fakeProvider struct {
	name       string
	caps       Capabilities
	hosts      map[HostID]*fakeProviderHost
	stopErr    error
	gcErr      error
	log        *[]string
	removedRec []AgentID
}

type fakeProviderHost struct {
	dh   DiscoveredHost
	exec *fakeExec
}

var (
	_ Provider           = (*fakeProvider)(nil)
	_ HostStopper        = (*fakeProvider)(nil)
	_ AgentPersister     = (*fakeProvider)(nil)
	_ GarbageCollector   = (*fakeProvider)(nil)
	_ CapabilityDeclarer = (*fakeProvider)(nil)
)

func (p *fakeProvider) Name() string               { return p.name }
func (p *fakeProvider) Capabilities() Capabilities { return p.caps }

func (p *fakeProvider) CreateHost(context.Context, CreateHostRequest) (*Host, error) {
	return nil, fmt.Errorf("fake provider creates no host: %w", ErrNotSupported)
}

func (p *fakeProvider) ListHosts(context.Context) ([]DiscoveredHost, error) {
	var out []DiscoveredHost
	for _, h := range p.hosts {
		out = append(out, h.dh)
	}
	return out, nil
}

func (p *fakeProvider) online(h *fakeProviderHost) *Host {
	return &Host{DiscoveredHost: h.dh, HostDir: "/mngr", SessionPrefix: h.exec.prefix, Exec: h.exec}
}

func (p *fakeProvider) ConnectHost(_ context.Context, id HostID) (*Host, error) {
	h, ok := p.hosts[id]
	if !ok {
		return nil, fmt.Errorf("host %s: %w", id, ErrNotFound)
	}
	if h.dh.State != HostRunning {
		return nil, fmt.Errorf("host %s: %w", id, ErrHostOffline)
	}
	return p.online(h), nil
}

func (p *fakeProvider) DestroyHost(_ context.Context, id HostID) error {
	*p.log = append(*p.log, p.name+": destroy host "+p.hosts[id].dh.Name)
	delete(p.hosts, id)
	return nil
}

func (p *fakeProvider) StopHost(_ context.Context, id HostID) error {
	*p.log = append(*p.log, p.name+": stop host "+p.hosts[id].dh.Name)
	if p.stopErr != nil {
		return p.stopErr
	}
	p.hosts[id].dh.State = HostStopped
	return nil
}

func (p *fakeProvider) StartHost(_ context.Context, id HostID) (*Host, error) {
	*p.log = append(*p.log, p.name+": start host "+p.hosts[id].dh.Name)
	p.hosts[id].dh.State = HostRunning
	return p.online(p.hosts[id]), nil
}

func (p *fakeProvider) PersistAgent(context.Context, HostID, AgentRecord) error { return nil }

func (p *fakeProvider) RemovePersistedAgent(_ context.Context, _ HostID, id AgentID) error {
	p.removedRec = append(p.removedRec, id)
	return nil
}

func (p *fakeProvider) CollectGarbage(_ context.Context, dryRun bool) ([]GCItem, error) {
	*p.log = append(*p.log, fmt.Sprintf("%s: gc dry-run=%v", p.name, dryRun))
	return nil, p.gcErr
}

// sharedProvider is a provider of one shared host that cannot stop hosts,
// as the local provider is.
type sharedProvider struct{ p *fakeProvider }

func (s sharedProvider) Name() string { return s.p.Name() }
func (s sharedProvider) Capabilities() Capabilities {
	return Capabilities{HostIsThisMachine: true, SharedHost: true}
}

func (s sharedProvider) CreateHost(ctx context.Context, r CreateHostRequest) (*Host, error) {
	return s.p.CreateHost(ctx, r)
}
func (s sharedProvider) ListHosts(ctx context.Context) ([]DiscoveredHost, error) {
	return s.p.ListHosts(ctx)
}

func (s sharedProvider) ConnectHost(ctx context.Context, id HostID) (*Host, error) {
	return s.p.ConnectHost(ctx, id)
}
func (s sharedProvider) DestroyHost(ctx context.Context, id HostID) error {
	return s.p.DestroyHost(ctx, id)
}

// recordingProgress keeps the steps and warnings a use case reports.
type recordingProgress struct {
	mu    sync.Mutex
	steps []string
	warns []string
}

func (r *recordingProgress) Step(name string) func(error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, name)
	return func(error) {}
}

func (r *recordingProgress) Warn(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warns = append(r.warns, msg)
}

// world is one test's providers, hosts and agents.
type world struct {
	log   []string
	provs map[string]*fakeProvider
}

func newWorld() *world { return &world{provs: map[string]*fakeProvider{}} }

// provider returns (making it) the fake provider name with caps.
func (w *world) provider(name string, caps Capabilities) *fakeProvider {
	if p, ok := w.provs[name]; ok {
		return p
	}
	p := &fakeProvider{name: name, caps: caps, hosts: map[HostID]*fakeProviderHost{}, log: &w.log}
	w.provs[name] = p
	return p
}

// host adds a host named name in state to p.
func (w *world) host(p *fakeProvider, name string, state HostState) *fakeProviderHost {
	h := &fakeProviderHost{
		dh:   DiscoveredHost{ID: NewHostID(), Name: name, Provider: p.name, State: state},
		exec: &fakeExec{host: name, prefix: "pfx-", agents: map[string]*fakeAgentState{}, stopExit: map[string]int{}, log: &w.log},
	}
	p.hosts[h.dh.ID] = h
	return h
}

// agent adds an agent to h.
func (w *world) agent(h *fakeProviderHost, name string, running bool) {
	h.exec.agents[name] = &fakeAgentState{
		rec:     AgentRecord{ID: NewAgentID(), Name: name, Type: "command", Command: "sleep 60", WorkDir: "/work/" + name},
		running: running,
	}
}

// refs resolves agent names to AgentRefs the way the CLI does: online
// hosts are connected and listed; offline ones give their persisted record.
func (w *world) refs(t *testing.T, prov func(*fakeProvider) Provider, names ...string) []AgentRef {
	t.Helper()
	var out []AgentRef
	for _, want := range names {
		found := false
		for _, p := range w.provs {
			for _, h := range p.hosts {
				a, ok := h.exec.agents[want]
				if !ok {
					continue
				}
				r := AgentRef{ProviderName: p.name, Provider: prov(p), Host: h.dh, Record: a.rec, State: AgentStopped}
				if h.dh.State == HostRunning {
					r.Online = p.online(h)
					if a.running {
						r.State = AgentWaiting
					}
				}
				out = append(out, r)
				found = true
			}
		}
		if !found {
			t.Fatalf("no agent %s", want)
		}
	}
	return out
}

func asIs(p *fakeProvider) Provider     { return p }
func asShared(p *fakeProvider) Provider { return sharedProvider{p} }

var cloudCaps = Capabilities{StopsHostWithAgents: true, DestroysEmptyHosts: true}

// summary is what a test compares of a Report.
type summary struct {
	Done       []string
	Failed     []string
	Categories []FailureCategory
	ExitCode   int
}

func summarizeReport(rep Report) summary {
	s := summary{Done: rep.Done(), ExitCode: rep.ExitCode()}
	for _, r := range rep.Results {
		if !r.Success {
			s.Failed = append(s.Failed, r.Agent)
		}
	}
	for _, f := range rep.Failures {
		s.Categories = append(s.Categories, f.Category)
	}
	return s
}

func TestStopAgents(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
		prov  func(*fakeProvider) Provider
		stop  []string
		opts  StopOptions
		want  summary
		log   []string
		warns []string
	}{
		{
			name: "cloud host stops with its only agent",
			setup: func(w *world) {
				w.agent(w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning), "a", true)
			},
			prov: asIs, stop: []string{"a"},
			want: summary{Done: []string{"a"}},
			log:  []string{"vm1: stop a", "cloud: stop host vm1"},
		},
		{
			name: "cloud host keeps running for another running agent",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", true)
				w.agent(h, "b", true)
			},
			prov: asIs, stop: []string{"a"},
			want:  summary{Done: []string{"a"}},
			log:   []string{"vm1: stop a"},
			warns: []string{"host vm1 keeps running: other agents run on it (use --stop-host to stop it anyway)"},
		},
		{
			name: "stop-host stops it anyway",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", true)
				w.agent(h, "b", true)
			},
			prov: asIs, stop: []string{"a"}, opts: StopOptions{StopHost: true},
			want: summary{Done: []string{"a"}},
			log:  []string{"vm1: stop a", "cloud: stop host vm1"},
		},
		{
			name: "no-stop-host keeps it",
			setup: func(w *world) {
				w.agent(w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning), "a", true)
			},
			prov: asIs, stop: []string{"a"}, opts: StopOptions{KeepHost: true},
			want: summary{Done: []string{"a"}},
			log:  []string{"vm1: stop a"},
		},
		{
			name: "a provider that keeps hosts running keeps them unless asked",
			setup: func(w *world) {
				w.agent(w.host(w.provider("box", Capabilities{}), "box1", HostRunning), "a", true)
			},
			prov: asIs, stop: []string{"a"},
			want: summary{Done: []string{"a"}},
			log:  []string{"box1: stop a"},
		},
		{
			name: "a shared host that cannot stop is never stopped",
			setup: func(w *world) {
				w.agent(w.host(w.provider("local", Capabilities{}), "localhost", HostRunning), "a", true)
			},
			prov: asShared, stop: []string{"a"}, opts: StopOptions{StopHost: true},
			want: summary{Done: []string{"a"}},
			log:  []string{"localhost: stop a"},
		},
		{
			name: "a powered-off host still billing is stopped although offline",
			setup: func(w *world) {
				w.agent(w.host(w.provider("box", Capabilities{}), "vm1", HostStoppedBilling), "a", false)
			},
			prov: asIs, stop: []string{"a"},
			want: summary{Done: []string{"a"}},
			log:  []string{"box: stop host vm1"},
		},
		{
			name: "an offline host is left alone",
			setup: func(w *world) {
				w.agent(w.host(w.provider("cloud", cloudCaps), "vm1", HostStopped), "a", false)
			},
			prov: asIs, stop: []string{"a"},
			want: summary{Done: []string{"a"}},
		},
		{
			name: "processes that survive KILL fail the agent and keep its host",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", true)
				h.exec.stopExit["a"] = exitProcsRemain
				w.agent(w.host(w.provider("cloud", cloudCaps), "vm2", HostRunning), "b", true)
			},
			prov: asIs, stop: []string{"a", "b"},
			want: summary{Done: []string{"b"}, Failed: []string{"a"}, Categories: []FailureCategory{CategoryProcessesRemain}, ExitCode: FailureProcessesRemain},
			log:  []string{"vm1: stop a", "vm2: stop b", "cloud: stop host vm2"},
		},
		{
			name: "a host that fails to stop is a remaining host resource",
			setup: func(w *world) {
				p := w.provider("cloud", cloudCaps)
				p.stopErr = fmt.Errorf("deallocate: %w", ErrTimeout)
				w.agent(w.host(p, "vm1", HostRunning), "a", true)
			},
			prov: asIs, stop: []string{"a"},
			want: summary{Done: []string{"a"}, Categories: []FailureCategory{CategoryHostResourceRemains}, ExitCode: FailureHostResourceRemains},
			log:  []string{"vm1: stop a", "cloud: stop host vm1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			tt.setup(w)
			prog := &recordingProgress{}
			ctx := WithProgress(context.Background(), prog)
			rep := StopAgents(ctx, w.refs(t, tt.prov, tt.stop...), tt.opts)
			if d := cmp.Diff(tt.want, summarizeReport(rep)); d != "" {
				t.Errorf("report (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.log, w.log); d != "" {
				t.Errorf("actions (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.warns, prog.warns); d != "" {
				t.Errorf("warnings (-want +got)\n%s", d)
			}
		})
	}
}

func TestStartAgents(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *world)
		prov  func(*fakeProvider) Provider
		start []string
		opts  StartOptions
		want  summary
		log   []string
	}{
		{
			name: "an offline host starts once for its agents",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostStopped)
				w.agent(h, "a", false)
				w.agent(h, "b", false)
			},
			prov: asIs, start: []string{"a", "b"},
			want: summary{Done: []string{"a", "b"}},
			log:  []string{"cloud: start host vm1", "vm1: start a", "vm1: start b"},
		},
		{
			name: "restart stops a running agent first",
			setup: func(w *world) {
				w.agent(w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning), "a", true)
			},
			prov: asIs, start: []string{"a"}, opts: StartOptions{Restart: true},
			want: summary{Done: []string{"a"}},
			log:  []string{"vm1: stop a", "vm1: start a"},
		},
		{
			name: "an offline host the provider cannot start fails that agent only",
			setup: func(w *world) {
				p := w.provider("local", Capabilities{})
				w.agent(w.host(p, "gone", HostStopped), "a", false)
				w.agent(w.host(p, "here", HostRunning), "b", false)
			},
			prov: asShared, start: []string{"a", "b"},
			want: summary{Done: []string{"b"}, Failed: []string{"a"}, Categories: []FailureCategory{CategoryOther}, ExitCode: FailureOther},
			log:  []string{"here: start b"},
		},
		{
			name: "a host that cannot be reached is the provider's failure",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", false)
				h.exec.startErr = fmt.Errorf("ssh: %w", ErrUnavailable)
			},
			prov: asIs, start: []string{"a"},
			want: summary{Done: []string{}, Failed: []string{"a"}, Categories: []FailureCategory{CategoryProviderInaccessible}, ExitCode: FailureProviderInaccessible},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			tt.setup(w)
			rep := StartAgents(context.Background(), w.refs(t, tt.prov, tt.start...), tt.opts)
			if d := cmp.Diff(tt.want, summarizeReport(rep)); d != "" {
				t.Errorf("report (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.log, w.log); d != "" {
				t.Errorf("actions (-want +got)\n%s", d)
			}
		})
	}
}

// A start that fails says how to bring the host back.
func TestStartAgentsOfflineHint(t *testing.T) {
	w := newWorld()
	w.agent(w.host(w.provider("local", Capabilities{}), "gone", HostStopped), "a", false)
	rep := StartAgents(context.Background(), w.refs(t, asShared, "a"), StartOptions{})
	if len(rep.Failures) != 1 || rep.Failures[0].Hint != "start it with 'mngr start a'" ||
		!strings.Contains(rep.Failures[0].Message, `host "gone" of agent "a" is STOPPED`) {
		t.Errorf("failures = %+v", rep.Failures)
	}
}

func TestDestroyAgents(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(w *world)
		prov    func(*fakeProvider) Provider
		destroy []string
		opts    DestroyOptions
		want    summary
		log     []string
		warns   []string
	}{
		{
			name: "the last agent takes its cloud host, then gc runs",
			setup: func(w *world) {
				w.agent(w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning), "a", true)
			},
			prov: asIs, destroy: []string{"a"},
			want: summary{Done: []string{"a"}},
			log:  []string{"vm1: stop a", "vm1: remove a", "cloud: destroy host vm1", "cloud: gc dry-run=false"},
		},
		{
			name: "a host with agents left stays; no-gc skips gc",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", true)
				w.agent(h, "b", false)
			},
			prov: asIs, destroy: []string{"a"}, opts: DestroyOptions{SkipGC: true},
			want: summary{Done: []string{"a"}},
			log:  []string{"vm1: stop a", "vm1: remove a"},
		},
		{
			name: "agents on an offline host go with the host, destroyed once",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostStopped)
				w.agent(h, "a", false)
				w.agent(h, "b", false)
			},
			prov: asIs, destroy: []string{"a", "b"}, opts: DestroyOptions{SkipGC: true},
			want: summary{Done: []string{"a", "b"}},
			log:  []string{"cloud: destroy host vm1"},
		},
		{
			name: "a shared host is never destroyed, and offline it is an error",
			setup: func(w *world) {
				p := w.provider("local", Capabilities{})
				w.agent(w.host(p, "localhost", HostRunning), "a", false)
				w.agent(w.host(p, "away", HostStopped), "b", false)
			},
			prov: asShared, destroy: []string{"a", "b"},
			want: summary{Done: []string{"a"}, Failed: []string{"b"}, Categories: []FailureCategory{CategoryOther}, ExitCode: FailureOther},
			log:  []string{"localhost: stop a", "localhost: remove a"},
		},
		{
			name: "a gc failure is a warning",
			setup: func(w *world) {
				p := w.provider("cloud", cloudCaps)
				p.gcErr = errors.New("list nics: boom")
				w.agent(w.host(p, "vm1", HostStopped), "a", false)
			},
			prov: asIs, destroy: []string{"a"},
			want:  summary{Done: []string{"a"}},
			log:   []string{"cloud: destroy host vm1", "cloud: gc dry-run=false"},
			warns: []string{"gc on cloud: list nics: boom"},
		},
		{
			name: "files that cannot be removed are local state that remains",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", true)
				h.exec.readOnly = true
			},
			prov: asIs, destroy: []string{"a"}, opts: DestroyOptions{SkipGC: true},
			want: summary{Done: []string{}, Failed: []string{"a"}, Categories: []FailureCategory{CategoryLocalStateRemains}, ExitCode: FailureLocalStateRemains},
			log:  []string{"vm1: stop a"},
		},
		{
			name: "a host whose listing hangs after the destroy remains",
			setup: func(w *world) {
				h := w.host(w.provider("cloud", cloudCaps), "vm1", HostRunning)
				w.agent(h, "a", false)
				h.exec.hangList = true
			},
			prov: asIs, destroy: []string{"a"}, opts: DestroyOptions{SkipGC: true, ListTimeout: 20 * time.Millisecond},
			want: summary{Done: []string{"a"}, Categories: []FailureCategory{CategoryHostResourceRemains}, ExitCode: FailureHostResourceRemains},
			log:  []string{"vm1: stop a", "vm1: remove a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			tt.setup(w)
			prog := &recordingProgress{}
			ctx := WithProgress(context.Background(), prog)
			refs := w.refs(t, tt.prov, tt.destroy...)
			rep := DestroyAgents(ctx, refs, tt.opts)
			if d := cmp.Diff(tt.want, summarizeReport(rep)); d != "" {
				t.Errorf("report (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.log, w.log); d != "" {
				t.Errorf("actions (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.warns, prog.warns); d != "" {
				t.Errorf("warnings (-want +got)\n%s", d)
			}
		})
	}
}

// Destroying an agent removes the record its provider keeps outside the host.
func TestDestroyAgentsRemovesPersistedRecord(t *testing.T) {
	w := newWorld()
	p := w.provider("cloud", cloudCaps)
	w.agent(w.host(p, "vm1", HostRunning), "a", false)
	refs := w.refs(t, asIs, "a")
	DestroyAgents(context.Background(), refs, DestroyOptions{SkipGC: true})
	if d := cmp.Diff([]AgentID{refs[0].Record.ID}, p.removedRec); d != "" {
		t.Errorf("removed records (-want +got)\n%s", d)
	}
}

func TestWorstFailure(t *testing.T) {
	tests := []struct {
		cats []FailureCategory
		want int
	}{
		{nil, 0},
		{[]FailureCategory{CategoryOther, CategoryTimeout}, FailureTimeout},
		{[]FailureCategory{CategoryProviderInaccessible, CategoryTimeout}, FailureTimeout},
		{[]FailureCategory{CategoryOther, CategoryProviderInaccessible}, FailureProviderInaccessible},
		{[]FailureCategory{CategoryLocalStateRemains, CategoryHostResourceRemains, CategoryProcessesRemain}, FailureHostResourceRemains},
		{[]FailureCategory{CategoryLocalStateRemains, CategoryProcessesRemain}, FailureProcessesRemain},
	}
	for _, tt := range tests {
		var fs []Failure
		for _, c := range tt.cats {
			fs = append(fs, Failure{Category: c})
		}
		if got := WorstFailure(fs).ExitCode(); got != tt.want {
			t.Errorf("%v -> %d, want %d", tt.cats, got, tt.want)
		}
	}
}

func TestCategorize(t *testing.T) {
	tests := []struct {
		err  error
		want FailureCategory
	}{
		{errors.New("boom"), CategoryOther},
		{fmt.Errorf("list: %w", ErrTimeout), CategoryTimeout},
		{fmt.Errorf("token: %w", ErrUnauthorized), CategoryProviderInaccessible},
		{fmt.Errorf("arm: %w", ErrUnavailable), CategoryProviderInaccessible},
		{fmt.Errorf("stop: %w", ErrProcessesRemain), CategoryProcessesRemain},
	}
	for _, tt := range tests {
		if got := Categorize(tt.err); got != tt.want {
			t.Errorf("Categorize(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
