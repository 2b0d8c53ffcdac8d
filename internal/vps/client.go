// Package vps is mngr's cloud-neutral VPS+Docker host layer: a host is one
// cloud VM running one Docker container in which agents run. A cloud plugs in
// by implementing VpsClient (and optionally the extra interfaces below);
// Provider turns that into a core.Provider.
package vps

import (
	"context"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// InstanceStatus is a VM's power state as the host layer needs it.
type InstanceStatus string

// Instance statuses.
const (
	// StatusPending is a VM being created or started.
	StatusPending InstanceStatus = "PENDING"
	// StatusActive is a running VM.
	StatusActive InstanceStatus = "ACTIVE"
	// StatusStopped is a VM whose compute is released (deallocated): no compute billing.
	StatusStopped InstanceStatus = "STOPPED"
	// StatusStoppedBilling is a VM powered off from inside whose compute is still allocated and billed.
	StatusStoppedBilling InstanceStatus = "STOPPED_BILLING"
	// StatusStopping is a VM being deallocated or powered off.
	StatusStopping InstanceStatus = "STOPPING"
	// StatusDestroying is a VM being deleted.
	StatusDestroying InstanceStatus = "DESTROYING"
	// StatusFailed is a VM whose provisioning failed.
	StatusFailed InstanceStatus = "FAILED"
	// StatusUnknown is any other state.
	StatusUnknown InstanceStatus = "UNKNOWN"
)

// Instance is one mngr VM as the cloud reports it.
type Instance struct {
	// ID is the cloud's id for the VM (an ARM resource id on Azure).
	ID       string
	HostID   core.HostID
	HostName string
	Status   InstanceStatus
	PublicIP string
	Region   string
	Size     string
	// Spot says the VM is an evictable Spot VM (priced at a discount).
	Spot      bool
	Tags      map[string]string
	CreatedAt time.Time
}

// CreateInstanceRequest asks the cloud for a VM.
type CreateInstanceRequest struct {
	HostID   core.HostID
	HostName string
	// UserData is the cloud-init document, in clear; the client encodes it as the cloud needs.
	UserData []byte
	// AdminPublicKey is the OpenSSH public key authorized for the VM's admin user.
	AdminPublicKey string
	// ProviderArgs are the build args the client claimed with ParseBuildArgs.
	ProviderArgs ProviderArgs
}

// ProviderArgs are the cloud-specific choices parsed out of the build args.
type ProviderArgs struct {
	Region string
	Size   string
	// Regions and Sizes, when set, are the candidates a client tries in
	// order when a region or size has no capacity or quota; Region and Size
	// are then their first entries.
	Regions []string
	Sizes   []string
	Spot    bool
	// Extra holds any other cloud-specific values a client parsed.
	Extra map[string]string
}

// VpsClient is what the host layer needs from a cloud. Every method is
// classified at the cloud's edge: not-found wraps core.ErrNotFound, quota
// core.ErrQuotaExceeded, capacity core.ErrCapacity, permission core.ErrUnauthorized.
type VpsClient interface { //nolint:revive // DESIGN.md names this contract VpsClient; callers read vps.VpsClient.
	// ParseBuildArgs claims the cloud's own build args (for example
	// --azure-region=) and returns the rest for docker build. Unknown
	// cloud-prefixed args are an error listing the valid ones.
	ParseBuildArgs(args []string) (ProviderArgs, []string, error)
	// Preflight checks, read-only, that a create can succeed (network prepared, credentials).
	Preflight(ctx context.Context) error
	// CreateInstance creates a VM and returns once it is provisioned with its
	// public IP. On failure it removes what it created, as far as it can.
	CreateInstance(ctx context.Context, req CreateInstanceRequest) (Instance, error)
	// GetInstance finds the VM tagged with host id.
	GetInstance(ctx context.Context, id core.HostID) (Instance, error)
	// ListInstances lists this provider's VMs with their power state, in a
	// number of cloud calls that does not grow with the number of VMs.
	ListInstances(ctx context.Context) ([]Instance, error)
	// StopInstance releases the VM's compute (deallocate) keeping disk and IP.
	StopInstance(ctx context.Context, id core.HostID) error
	// StartInstance starts a stopped VM and returns it running.
	StartInstance(ctx context.Context, id core.HostID) (Instance, error)
	// DestroyInstance deletes the VM and everything it owns. Idempotent.
	DestroyInstance(ctx context.Context, id core.HostID) error
}

// AgentMirror is a VpsClient that can keep agent records beside the VM (in
// its tags), so agents list while the VM is deallocated.
type AgentMirror interface {
	MirrorAgents(ctx context.Context, id core.HostID, agents []core.AgentRecord) error
	MirroredAgents(inst Instance) ([]core.AgentRecord, error)
}

// SelfStopper is a VpsClient whose VMs can stop themselves when idle; it
// returns the in-guest script that does so (run by a systemd unit on the VM).
type SelfStopper interface {
	SelfStopScript() string
}

// HostCoster is a VpsClient that prices its VMs from a price table, with
// no cloud call: what an hour of running and a month of disk cost, and an
// estimate since the VM was made.
type HostCoster interface {
	InstanceCost(inst Instance, now time.Time) core.HostCost
}

// InstanceRenamer is a VpsClient that can change the host name it keeps on
// a VM (whether it runs or not) and add the extra tags given.
type InstanceRenamer interface {
	RenameInstance(ctx context.Context, id core.HostID, newName string, extraTags map[string]string) error
}
