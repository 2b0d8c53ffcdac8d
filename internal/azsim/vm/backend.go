// Package vm holds azsim's VM backends: what a simulated VM is below ARM.
// "none" keeps only ARM state; "docker" makes every VM a real machine.
package vm

import "context"

// PowerState is a VM's power state, as Azure's instance view names it
// without the "PowerState/" prefix.
type PowerState string

// Power states.
const (
	PowerStarting     PowerState = "starting"
	PowerRunning      PowerState = "running"
	PowerStopping     PowerState = "stopping"
	PowerStopped      PowerState = "stopped"
	PowerDeallocating PowerState = "deallocating"
	PowerDeallocated  PowerState = "deallocated"
)

// Spec is what a backend needs to boot a VM.
type Spec struct {
	// ResourceID is the VM's ARM id; backends key machines by it.
	ResourceID   string
	Name         string
	ComputerName string
	AdminUser    string
	// SSHPublicKeys are authorized for AdminUser (path /home/<user>/.ssh/authorized_keys).
	SSHPublicKeys []string
	// CustomData is the decoded customData (cloud-init user data), or nil.
	CustomData []byte
	// PublicIP is the address the machine's ports are published on (127.77.x.y).
	PublicIP string
	// PrincipalID is the VM's system-assigned identity, "" if none.
	PrincipalID string
	// UserIdentities are the user-assigned identities attached to the VM.
	UserIdentities []Identity
	// Image is the resource id of the gallery image version the VM boots
	// from, "" for the stock image.
	Image string
}

// Imager is a backend that can capture a generalized VM's disk as a
// gallery image version and boot new VMs from it. A backend without it
// keeps image versions as ARM state only.
type Imager interface {
	// Capture copies the stopped machine of vmID into image imageID.
	Capture(ctx context.Context, vmID, imageID string) error
	// DeleteImage removes image imageID. Idempotent.
	DeleteImage(ctx context.Context, imageID string) error
}

// Identity is a user-assigned managed identity a VM holds: IMDS issues a
// token for it when a request names it by client id, object (principal)
// id or resource id.
type Identity struct {
	ResourceID  string
	ClientID    string
	PrincipalID string
}

// Backend runs the machines behind simulated VMs.
type Backend interface {
	// Name is "none" or "docker".
	Name() string
	// Create boots a machine and returns once it is up (sshd answering).
	Create(ctx context.Context, spec Spec) error
	// Start starts a deallocated or stopped machine with the same disk and address.
	Start(ctx context.Context, spec Spec) error
	// Deallocate stops the machine keeping its disk.
	Deallocate(ctx context.Context, resourceID string) error
	// PowerOff stops the machine keeping its disk (compute stays allocated in ARM terms).
	PowerOff(ctx context.Context, resourceID string) error
	// Delete removes the machine and its disk. Idempotent.
	Delete(ctx context.Context, resourceID string) error
	// Observe reports the machine's power state as seen from outside, so a
	// shutdown from inside the guest shows as stopped. ok is false when the
	// backend has no opinion (the ARM state stands).
	Observe(ctx context.Context, resourceID string) (state PowerState, ok bool, err error)
	// Close releases the backend; with reset it removes every machine.
	Close(ctx context.Context, reset bool) error
}

// None is the ARM-only backend: machines exist only as ARM state.
type None struct{}

// Name returns "none".
func (None) Name() string { return "none" }

// Create does nothing: the VM is ARM state only.
func (None) Create(context.Context, Spec) error { return nil }

// Start does nothing.
func (None) Start(context.Context, Spec) error { return nil }

// Deallocate does nothing.
func (None) Deallocate(context.Context, string) error { return nil }

// PowerOff does nothing.
func (None) PowerOff(context.Context, string) error { return nil }

// Delete does nothing.
func (None) Delete(context.Context, string) error { return nil }

// Observe has no opinion: ARM state stands.
func (None) Observe(context.Context, string) (PowerState, bool, error) { return "", false, nil }

// Close does nothing.
func (None) Close(context.Context, bool) error { return nil }
