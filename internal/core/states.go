package core

// HostState is the life-cycle state of a host, shown UPPERCASE.
type HostState string

// Host states.
const (
	HostBuilding        HostState = "BUILDING"
	HostStarting        HostState = "STARTING"
	HostRunning         HostState = "RUNNING"
	HostStopping        HostState = "STOPPING"
	HostStopped         HostState = "STOPPED"
	HostPaused          HostState = "PAUSED"
	HostCrashed         HostState = "CRASHED"
	HostFailed          HostState = "FAILED"
	HostDestroyed       HostState = "DESTROYED"
	HostUnauthenticated HostState = "UNAUTHENTICATED"
	HostUnknown         HostState = "UNKNOWN"
	// HostStoppedBilling is a host powered off from inside (an OS shutdown)
	// whose compute is still allocated and billed.
	HostStoppedBilling HostState = "STOPPED_BILLING"
)

// AgentState is the life-cycle state of an agent, shown UPPERCASE.
type AgentState string

// Agent states.
const (
	AgentStopped                 AgentState = "STOPPED"
	AgentRunning                 AgentState = "RUNNING"
	AgentWaiting                 AgentState = "WAITING"
	AgentReplaced                AgentState = "REPLACED"
	AgentRunningUnknownAgentType AgentState = "RUNNING_UNKNOWN_AGENT_TYPE"
	AgentDone                    AgentState = "DONE"
	AgentUnknown                 AgentState = "UNKNOWN"
)
