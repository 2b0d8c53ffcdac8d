// Package guesttest lets tests log in to a simulated VM of the docker
// backend over SSH and run commands there. It records the host key the
// machine served so tests can compare it across restarts.
package guesttest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Guest is an SSH connection to a simulated VM.
type Guest struct {
	client *ssh.Client
	// HostKey is the host key the machine served, in authorized_keys form.
	HostKey string
}

// Dial logs in to addr as user with signer; the connection closes when the test ends.
func Dial(t *testing.T, addr, user string, signer ssh.Signer) *Guest {
	t.Helper()
	g := &Guest{}
	cfg := &ssh.ClientConfig{
		User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, Timeout: 10 * time.Second,
		// The test compares the recorded key with the one it injected.
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			g.HostKey = string(ssh.MarshalAuthorizedKey(key))
			return nil
		},
	}
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("ssh %s@%s: %v", user, addr, err)
	}
	g.client = c
	t.Cleanup(func() { _ = c.Close() })
	return g
}

// Run runs cmd and returns its combined output, trimmed.
func (g *Guest) Run(cmd string) (string, error) {
	s, err := g.client.NewSession()
	if err != nil {
		return "", fmt.Errorf("new ssh session: %w", err)
	}
	defer func() { _ = s.Close() }()
	out, err := s.CombinedOutput(cmd)
	return strings.TrimSpace(string(out)), err
}

// Eventually runs cmd once a second until it succeeds, failing the test
// after limit.
func (g *Guest) Eventually(t *testing.T, cmd string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := g.Run(cmd)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("in guest %q: %v: %s", cmd, err, out)
		}
		time.Sleep(time.Second)
	}
}
