// Package vpstest is test support for the vps host layer: an in-memory
// vps.VpsClient that also mirrors agent records (vps.AgentMirror), for tests
// outside package vps that drive a real vps.Provider without a cloud.
package vpstest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Client is an in-memory cloud. Instances are added with Put; the zero value
// is not usable, call NewClient.
type Client struct {
	mu     sync.Mutex
	insts  map[core.HostID]vps.Instance
	agents map[core.HostID][]core.AgentRecord
	calls  map[string]int
	// NextIP is the public IP CreateInstance gives new VMs.
	NextIP string
	// BeforeCreate, when set, sees each CreateInstance request before the
	// VM is recorded (a test's fake VM boots from its user data there); an
	// error fails the create and records nothing.
	BeforeCreate func(req vps.CreateInstanceRequest) error
}

var (
	_ vps.VpsClient   = (*Client)(nil)
	_ vps.AgentMirror = (*Client)(nil)
)

// NewClient returns an empty cloud.
func NewClient() *Client {
	return &Client{insts: map[core.HostID]vps.Instance{}, agents: map[core.HostID][]core.AgentRecord{}, calls: map[string]int{}}
}

// Put adds or replaces an instance and its mirrored agents.
func (c *Client) Put(inst vps.Instance, agents []core.AgentRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insts[inst.HostID] = inst
	c.agents[inst.HostID] = append([]core.AgentRecord(nil), agents...)
}

// Calls returns how many times method was called.
func (c *Client) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

func (c *Client) count(method string) {
	c.mu.Lock()
	c.calls[method]++
	c.mu.Unlock()
}

// ParseBuildArgs claims nothing: every arg goes to docker build.
func (c *Client) ParseBuildArgs(args []string) (vps.ProviderArgs, []string, error) {
	return vps.ProviderArgs{}, args, nil
}

// Preflight always succeeds.
func (c *Client) Preflight(context.Context) error { c.count("Preflight"); return nil }

// CreateInstance records a running VM at NextIP.
func (c *Client) CreateInstance(_ context.Context, req vps.CreateInstanceRequest) (vps.Instance, error) {
	c.count("CreateInstance")
	if c.BeforeCreate != nil {
		if err := c.BeforeCreate(req); err != nil {
			return vps.Instance{}, err
		}
	}
	inst := vps.Instance{ID: "vm-" + req.HostID.Hex(), HostID: req.HostID, HostName: req.HostName,
		Status: vps.StatusActive, PublicIP: c.NextIP, Region: req.ProviderArgs.Region,
		Tags: map[string]string{"mngr-host-id": string(req.HostID)}}
	c.Put(inst, nil)
	return inst, nil
}

// GetInstance returns the VM of host id or a core.ErrNotFound error.
func (c *Client) GetInstance(_ context.Context, id core.HostID) (vps.Instance, error) {
	c.count("GetInstance")
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.insts[id]
	if !ok {
		return vps.Instance{}, fmt.Errorf("vm of host %s: %w", id, core.ErrNotFound)
	}
	return inst, nil
}

// ListInstances returns every VM, ordered by host name.
func (c *Client) ListInstances(context.Context) ([]vps.Instance, error) {
	c.count("ListInstances")
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]vps.Instance, 0, len(c.insts))
	for _, i := range c.insts {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].HostName < out[b].HostName })
	return out, nil
}

func (c *Client) setStatus(id core.HostID, s vps.InstanceStatus) (vps.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.insts[id]
	if !ok {
		return vps.Instance{}, fmt.Errorf("vm of host %s: %w", id, core.ErrNotFound)
	}
	inst.Status = s
	c.insts[id] = inst
	return inst, nil
}

// StopInstance marks the VM deallocated.
func (c *Client) StopInstance(_ context.Context, id core.HostID) error {
	c.count("StopInstance")
	_, err := c.setStatus(id, vps.StatusStopped)
	return err
}

// StartInstance marks the VM running.
func (c *Client) StartInstance(_ context.Context, id core.HostID) (vps.Instance, error) {
	c.count("StartInstance")
	return c.setStatus(id, vps.StatusActive)
}

// DestroyInstance forgets the VM. Idempotent.
func (c *Client) DestroyInstance(_ context.Context, id core.HostID) error {
	c.count("DestroyInstance")
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.insts, id)
	delete(c.agents, id)
	return nil
}

// MirrorAgents replaces the agents mirrored beside the VM.
func (c *Client) MirrorAgents(_ context.Context, id core.HostID, agents []core.AgentRecord) error {
	c.count("MirrorAgents")
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.insts[id]; !ok {
		return fmt.Errorf("vm of host %s: %w", id, core.ErrNotFound)
	}
	c.agents[id] = append([]core.AgentRecord(nil), agents...)
	return nil
}

// MirroredAgents returns the agents mirrored beside inst.
func (c *Client) MirroredAgents(inst vps.Instance) ([]core.AgentRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]core.AgentRecord(nil), c.agents[inst.HostID]...), nil
}
