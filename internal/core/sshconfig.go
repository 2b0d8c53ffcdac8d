package core

import "context"

// SSHEndpoint says how a plain OpenSSH client reaches the place an agent
// runs (on the VPS providers: the agent container's sshd, published on the
// VM). Every path is absolute and local to this machine.
type SSHEndpoint struct {
	// HostName is the address to dial (an IP address or DNS name).
	HostName string `json:"hostname"`
	// Port is the TCP port of the sshd.
	Port int `json:"port"`
	// User is the login user.
	User string `json:"user"`
	// IdentityFile is the private key the sshd accepts.
	IdentityFile string `json:"identity_file"`
	// KnownHostsFile pins the sshd's host key; ssh must check it strictly.
	KnownHostsFile string `json:"known_hosts_file"`
	// ConnectTimeoutSeconds bounds the TCP connect of git and rsync
	// (0: 15 s).
	ConnectTimeoutSeconds int `json:"connect_timeout_seconds,omitempty"`
}

// SSHEndpointer is a provider whose hosts a plain ssh client can reach with
// mngr's keys, so `mngr ssh-config` can describe them. SSHEndpoint makes at
// most one cloud call and no SSH connection; a host that is not running
// returns an error wrapping ErrHostOffline.
type SSHEndpointer interface {
	SSHEndpoint(ctx context.Context, id HostID) (SSHEndpoint, error)
}
