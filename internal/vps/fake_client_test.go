package vps

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/mngr-azure/mngr/internal/core"
)

// fakeClient is an in-memory VpsClient for tests.
type fakeClient struct {
	mu        sync.Mutex
	insts     map[core.HostID]Instance
	agents    map[core.HostID][]core.AgentRecord
	created   []CreateInstanceRequest
	calls     []string
	ip        string
	failStart error
}

func newFakeClient(ip string) *fakeClient {
	return &fakeClient{insts: map[core.HostID]Instance{}, agents: map[core.HostID][]core.AgentRecord{}, ip: ip}
}

func (f *fakeClient) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeClient) ParseBuildArgs(args []string) (ProviderArgs, []string, error) {
	var pa ProviderArgs
	var rest []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--fake-region="); ok {
			pa.Region = v
			continue
		}
		if strings.HasPrefix(a, "--fake-") {
			return pa, nil, fmt.Errorf("unknown fake build arg %s: %w", a, core.ErrInvalidInput)
		}
		rest = append(rest, a)
	}
	return pa, rest, nil
}

func (f *fakeClient) Preflight(context.Context) error { f.record("preflight"); return nil }

func (f *fakeClient) CreateInstance(_ context.Context, req CreateInstanceRequest) (Instance, error) {
	f.record("create")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, req)
	inst := Instance{ID: "vm-" + req.HostID.Hex(), HostID: req.HostID, HostName: req.HostName, Status: StatusActive,
		PublicIP: f.ip, Region: req.ProviderArgs.Region, Tags: map[string]string{"mngr-host-id": string(req.HostID), "team": "x"}}
	f.insts[req.HostID] = inst
	return inst, nil
}

func (f *fakeClient) GetInstance(_ context.Context, id core.HostID) (Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst, ok := f.insts[id]
	if !ok {
		return Instance{}, fmt.Errorf("vm for %s: %w", id, core.ErrNotFound)
	}
	return inst, nil
}

func (f *fakeClient) ListInstances(context.Context) ([]Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Instance
	for _, i := range f.insts {
		out = append(out, i)
	}
	return out, nil
}

func (f *fakeClient) setStatus(id core.HostID, s InstanceStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst, ok := f.insts[id]
	if !ok {
		return fmt.Errorf("vm for %s: %w", id, core.ErrNotFound)
	}
	inst.Status = s
	f.insts[id] = inst
	return nil
}

func (f *fakeClient) StopInstance(_ context.Context, id core.HostID) error {
	f.record("stop")
	return f.setStatus(id, StatusStopped)
}

func (f *fakeClient) StartInstance(ctx context.Context, id core.HostID) (Instance, error) {
	f.record("start")
	if f.failStart != nil {
		return Instance{}, f.failStart
	}
	if err := f.setStatus(id, StatusActive); err != nil {
		return Instance{}, err
	}
	return f.GetInstance(ctx, id)
}

func (f *fakeClient) DestroyInstance(_ context.Context, id core.HostID) error {
	f.record("destroy")
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.insts, id)
	return nil
}

// mirrorClient adds AgentMirror, SelfStopper and GarbageCollector.
type mirrorClient struct{ *fakeClient }

func (m mirrorClient) MirrorAgents(_ context.Context, id core.HostID, agents []core.AgentRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.agents[id] = append([]core.AgentRecord(nil), agents...)
	return nil
}

func (m mirrorClient) MirroredAgents(inst Instance) ([]core.AgentRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]core.AgentRecord(nil), m.agents[inst.HostID]...), nil
}

func (m mirrorClient) SelfStopScript() string { return "#!/bin/sh\necho deallocating\n" }

func (m mirrorClient) CollectGarbage(_ context.Context, dryRun bool) ([]core.GCItem, error) {
	return []core.GCItem{{Kind: "nic", Name: "leaked", Done: !dryRun}}, nil
}

var (
	_ VpsClient             = (*fakeClient)(nil)
	_ AgentMirror           = mirrorClient{}
	_ SelfStopper           = mirrorClient{}
	_ core.GarbageCollector = mirrorClient{}
)
