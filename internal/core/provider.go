package core

import (
	"context"
	"time"
)

// DiscoveredHost is what a provider knows of a host without connecting to it.
type DiscoveredHost struct {
	ID            HostID            `json:"id"`
	Name          string            `json:"name"`
	Provider      string            `json:"provider_name"`
	State         HostState         `json:"state"`
	Image         string            `json:"image,omitempty"`
	Tags          map[string]string `json:"tags"`
	CreatedAt     time.Time         `json:"created_at"`
	SSH           *SSHInfo          `json:"ssh"`
	FailureReason string            `json:"failure_reason,omitempty"`
	// Size and Region are the cloud's machine size and region ("" when
	// the provider has none).
	Size   string `json:"size,omitempty"`
	Region string `json:"region,omitempty"`
	// Cost is what the host costs; nil when the provider prices nothing.
	Cost *HostCost `json:"-"`
	// Agents are the agent records the provider persisted outside the host
	// (for example in VM tags), so agents list while the host is offline.
	// Nil means the provider keeps none.
	Agents []AgentRecord `json:"-"`
	// StateHint explains a state the user should act on, such as a VM that
	// is powered off but still billed; empty when there is nothing to say.
	StateHint string `json:"state_hint,omitempty"`
	// Role says what a host that runs no agents is for when mngr made it
	// for something else (an image builder of mngr azure bake); "" for an
	// agent host.
	Role string `json:"role,omitempty"`
}

// Host is an online host: its description plus a way to run commands on it.
type Host struct {
	DiscoveredHost
	// HostDir is mngr's directory on the host ($MNGR_HOST_DIR there).
	HostDir string
	// SessionPrefix prefixes the tmux session of every agent on the host;
	// the provider sets it (from MNGR_PREFIX). Empty means DefaultPrefix.
	SessionPrefix string
	// Exec runs commands on the host.
	Exec Executor
	// Remote says the host is not the machine mngr runs on (the opposite of
	// Capabilities.HostIsThisMachine): StartAgent may then install a missing
	// agent CLI there with the host's package manager. The zero value, this
	// machine, never installs anything.
	Remote bool
}

// Prefix is the host's tmux session prefix.
func (h *Host) Prefix() string {
	if h.SessionPrefix == "" {
		return DefaultPrefix
	}
	return h.SessionPrefix
}

// CreateHostRequest asks a provider for a new host.
type CreateHostRequest struct {
	Name      string
	Tags      map[string]string
	BuildArgs []string
	StartArgs []string
	// IdleTimeoutSeconds, when positive, lets the host stop itself after
	// that long without activity (the provider's default timeout otherwise).
	IdleTimeoutSeconds int
	// PostCreateCommands run inside a host this create makes, once, in
	// order, before the work dir is set up (--post-host-create-command).
	// Create runs them, not the provider.
	PostCreateCommands []string `json:"post_create_commands,omitempty"`
	// OuterCommands run once on the machine around a host this create
	// makes (the VM of an agent container), before PostCreateCommands,
	// through OuterHostRunner (--post-host-create-outer-command).
	OuterCommands []string `json:"outer_commands,omitempty"`
	// Idle is what create's idle flags change in the provider's default
	// idle policy (IdlePolicyDefaulter) for the new host.
	Idle IdleChange
	// AgentType is the type of the agent the host is made for, so that a
	// provider can choose a host image that holds its CLI.
	AgentType string `json:"agent_type,omitempty"`
}

// IdlePolicyDefaulter is a provider whose hosts get an idle policy by
// default (from the provider's settings) and can enforce it. A provider
// that is not one (local) records a policy it is given but never stops a
// host for it.
type IdlePolicyDefaulter interface {
	DefaultIdlePolicy() IdlePolicy
}

// DefaultIdlePolicyOf returns p's default idle policy, or for a provider
// that has none the io sources without a timeout (never stops).
func DefaultIdlePolicyOf(p Provider) IdlePolicy {
	if d, ok := p.(IdlePolicyDefaulter); ok {
		return d.DefaultIdlePolicy()
	}
	return IdlePolicy{Mode: ModeIO, Sources: NormalizeSources(idleModes[ModeIO])}
}

// Provider is a configured provider instance. It is deliberately small:
// everything else is an optional capability interface below.
type Provider interface {
	// Name is the provider instance name ("local", "azure", "azure-west").
	Name() string
	// CreateHost creates and starts a host and returns it online.
	CreateHost(ctx context.Context, req CreateHostRequest) (*Host, error)
	// ListHosts discovers the provider's hosts without connecting to them.
	ListHosts(ctx context.Context) ([]DiscoveredHost, error)
	// ConnectHost returns the online host, or an error wrapping ErrHostOffline
	// when it exists but is not running, or ErrNotFound.
	ConnectHost(ctx context.Context, id HostID) (*Host, error)
	// DestroyHost deletes the host and everything it owns. It is idempotent.
	DestroyHost(ctx context.Context, id HostID) error
}

// HostStopper is a provider whose hosts can be stopped and started again
// with their disks kept.
type HostStopper interface {
	StopHost(ctx context.Context, id HostID) error
	StartHost(ctx context.Context, id HostID) (*Host, error)
}

// AgentPersister is a provider that keeps agent records outside the host, so
// agents resolve and list while the host is offline.
type AgentPersister interface {
	PersistAgent(ctx context.Context, host HostID, rec AgentRecord) error
	RemovePersistedAgent(ctx context.Context, host HostID, agent AgentID) error
}

// HostRenamer is a provider whose hosts can be renamed: the name in the
// cloud's records of the host (Azure: the mngr-host-name tag, written
// whether the VM runs or is deallocated) and, when the host runs, in its
// own record. Names a cloud gives a resource when it is made (an Azure
// VM's resource and computer name) stay.
type HostRenamer interface {
	RenameHost(ctx context.Context, id HostID, newName string) error
}

// GarbageCollector is a provider that can reclaim leaked cloud resources.
type GarbageCollector interface {
	CollectGarbage(ctx context.Context, dryRun bool) ([]GCItem, error)
}

// GCItem is one resource garbage collection removed (or would remove).
type GCItem struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Done   bool   `json:"done"`
	Error  string `json:"error,omitempty"`
}

// Settings is a provider block from the config, which a backend decodes into
// its own typed struct.
type Settings interface {
	// Decode fills v (a pointer to a struct with toml tags) from the block,
	// rejecting any key v does not declare with the key's name and file.
	Decode(v any) error
}

// Env is what every provider may know about the invoking environment.
type Env struct {
	// HostDir is the local mngr directory (MNGR_HOST_DIR, default ~/.mngr).
	HostDir string
	// Prefix is the tmux session and container name prefix (MNGR_PREFIX).
	Prefix string
	// Getenv reads the environment; tests replace it.
	Getenv func(string) string
}

// Backend is a provider implementation that config blocks can name.
type Backend struct {
	Name        string
	Description string
	// DefaultInstance says whether an instance named after the backend
	// exists even without a config block.
	DefaultInstance bool
	// New builds a provider instance. It must not make network calls that
	// fail when the cloud is unreachable; those belong to the operations.
	New func(ctx context.Context, name string, s Settings, env Env) (Provider, error)
	// CheckSettings, when set, checks a settings block the way New would
	// read it, without building anything (mngr config set uses it before
	// it writes a provider key).
	CheckSettings func(s Settings) error
}

// Registry holds the known backends.
type Registry struct {
	backends map[string]Backend
	order    []string
}

// Register adds a backend; a second one with the same name replaces it.
func (r *Registry) Register(b Backend) {
	if r.backends == nil {
		r.backends = map[string]Backend{}
	}
	if _, ok := r.backends[b.Name]; !ok {
		r.order = append(r.order, b.Name)
	}
	r.backends[b.Name] = b
}

// Lookup returns the backend named name.
func (r *Registry) Lookup(name string) (Backend, bool) {
	b, ok := r.backends[name]
	return b, ok
}

// Names lists backend names in registration order.
func (r *Registry) Names() []string { return append([]string(nil), r.order...) }
