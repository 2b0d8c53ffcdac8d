package core

// Capabilities are what a provider's hosts can do, declared once by the
// backend so that commands ask "can it?" instead of "is it local?".
type Capabilities struct {
	// HostIsThisMachine: the provider's hosts are the machine mngr runs on,
	// so their files and processes are this machine's (a work dir can be a
	// git worktree of the user's repository; connect execs tmux directly).
	HostIsThisMachine bool
	// SharedHost: the provider has one fixed host that every agent shares;
	// create never makes a host, it uses that one.
	SharedHost bool
	// StopsHostWithAgents: stopping the last agent of a host also stops the
	// host by default (a cloud VM that bills while it runs).
	StopsHostWithAgents bool
	// DestroysEmptyHosts: destroying the last agent of a host destroys the
	// host too.
	DestroysEmptyHosts bool
}

// CapabilityDeclarer is a provider that declares its capabilities. A
// provider that does not declares none: a remote host per create that is
// stopped and destroyed with its agents.
type CapabilityDeclarer interface {
	Capabilities() Capabilities
}

// CapabilitiesOf returns p's declared capabilities, or those of a remote,
// one-host-per-create provider when p declares none.
func CapabilitiesOf(p Provider) Capabilities {
	if d, ok := p.(CapabilityDeclarer); ok {
		return d.Capabilities()
	}
	return Capabilities{StopsHostWithAgents: true, DestroysEmptyHosts: true}
}
