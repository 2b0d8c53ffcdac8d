package core

import (
	"strconv"
	"strings"
)

// NoForwardingSSHOptions turn off, for one ssh call, every forwarding the
// user's ssh_config could add (a `Host *` block with ForwardAgent yes, say):
// the ssh-agent, X11 and all port forwardings. A host mngr reaches runs the
// agent as root in a container, so nothing of this machine goes there unless
// the user asks for it on that command line. mngr's own ssh, git-over-ssh
// and rsync calls all set them; command-line options win over ssh_config.
var NoForwardingSSHOptions = []string{"-o", "ForwardAgent=no", "-o", "ForwardX11=no", "-o", "ClearAllForwardings=yes"}

// sshArgs is the OpenSSH command line git and rsync use to reach the
// endpoint: mngr's key only, the endpoint's own known_hosts file checked
// strictly (the host key was pinned before the first connection, so there
// is never a first-use prompt), no password prompt, and a dead peer noticed
// within a minute. The user's ssh_config still applies to everything else
// (a ProxyJump, say); options given here come first and win.
func (e SSHEndpoint) sshArgs(withPort bool) []string {
	connect := 15
	if e.ConnectTimeoutSeconds > 0 {
		connect = e.ConnectTimeoutSeconds
	}
	args := []string{"ssh",
		"-i", e.IdentityFile,
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + e.KnownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=" + strconv.Itoa(connect),
		"-o", "ServerAliveInterval=15",
		"-o", "ServerAliveCountMax=4",
	}
	args = append(args, NoForwardingSSHOptions...)
	if withPort {
		args = append(args, "-p", strconv.Itoa(e.Port))
	}
	return args
}

// GitSSHCommand is GIT_SSH_COMMAND for the endpoint (git adds the port and
// the login from the URL).
func (e SSHEndpoint) GitSSHCommand() string { return ShellJoin(e.sshArgs(false)) }

// RsyncShell is rsync's -e value for the endpoint (port included).
func (e SSHEndpoint) RsyncShell() string { return ShellJoin(e.sshArgs(true)) }

// hostPart is the host name, bracketed when it is an IPv6 address.
func (e SSHEndpoint) hostPart() string {
	if strings.Contains(e.HostName, ":") {
		return "[" + e.HostName + "]"
	}
	return e.HostName
}

// GitURL is the ssh:// URL of the repository at dir on the endpoint.
func (e SSHEndpoint) GitURL(dir string) string {
	return "ssh://" + e.User + "@" + e.hostPart() + ":" + strconv.Itoa(e.Port) + dir
}

// RsyncPath is the user@host:dir argument rsync reads as a remote path.
func (e SSHEndpoint) RsyncPath(dir string) string {
	return e.User + "@" + e.hostPart() + ":" + dir
}

// gitRemote is the URL and environment git uses for the repository at dir:
// the path itself on this machine (remote nil), else the ssh URL with
// GIT_SSH_COMMAND set to the endpoint's pinned ssh.
func gitRemote(remote *SSHEndpoint, dir string) (url string, env []string) {
	if remote == nil {
		return dir, nil
	}
	return remote.GitURL(dir), []string{"GIT_SSH_COMMAND=" + remote.GitSSHCommand(), "GIT_SSH_VARIANT=ssh"}
}

// rsyncPath is rsync's argument for dir: the path on this machine, else
// user@host:dir.
func rsyncPath(remote *SSHEndpoint, dir string) string {
	if remote == nil {
		return dir
	}
	return remote.RsyncPath(dir)
}

// rsyncTransport are rsync's options for reaching remote (compression and
// the pinned ssh; nothing on this machine) and for showing progress.
func rsyncTransport(remote *SSHEndpoint, progress bool) []string {
	var args []string
	if remote != nil {
		args = append(args, "-z", "-e", remote.RsyncShell())
	}
	if progress {
		args = append(args, "--info=progress2,stats1")
	}
	return args
}
