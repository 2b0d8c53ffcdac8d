package core

import "time"

// The defaults every layer shares, stated once. A setting's own package
// documents it; these are only the values it falls back to.
const (
	// DefaultPrefix prefixes agents' tmux sessions and hosts' container
	// names (MNGR_PREFIX, the prefix setting).
	DefaultPrefix = "mngr-"
	// DefaultLocalHostDir is mngr's directory on the user's machine
	// (MNGR_HOST_DIR, the default_host_dir setting); "~" is $HOME.
	DefaultLocalHostDir = "~/.mngr"
	// DefaultRemoteHostDir is mngr's directory inside a remote host's agent
	// container.
	DefaultRemoteHostDir = "/mngr"
	// DefaultContainerSSHPort is the VM port published to the agent
	// container's sshd.
	DefaultContainerSSHPort = 2222
	// DefaultAllowedSSHCIDR is where SSH may come from when the user names
	// no source range: anywhere (login is key-only).
	DefaultAllowedSSHCIDR = "0.0.0.0/0"
	// DefaultTmuxWidth and DefaultTmuxHeight are an agent's tmux window
	// size when none is asked for.
	DefaultTmuxWidth  = 200
	DefaultTmuxHeight = 50
	// DefaultHostListTimeout bounds listing the agents of a host that passed
	// its reach check: one short command, so 15 s is far above a healthy
	// host's reply (tens of ms) and a loaded one's (a few seconds).
	DefaultHostListTimeout = 15 * time.Second
)
