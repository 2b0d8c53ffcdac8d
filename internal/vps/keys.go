package vps

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/mngr-azure/mngr/internal/sshx"
)

// Keys are the local key files of one provider instance, shared by all its
// hosts: the client keys mngr logs in with, the host keys it injects into the
// VM and the container (so it can pin them before the first connection), and
// the known_hosts files those are pinned in.
type Keys struct {
	Dir string

	VMKey, ContainerKey               string // private key paths (".pub" beside them)
	VMHostKey, ContainerHostKey       string
	VMKnownHosts, ContainerKnownHosts string

	// Public keys in authorized_keys format.
	VMKeyPub, ContainerKeyPub         string
	VMHostKeyPub, ContainerHostKeyPub string
}

// KeyDir returns <localHostDir>/providers/<backend>/<instance>/keys.
func KeyDir(localHostDir, backend, instance string) string {
	return filepath.Join(localHostDir, "providers", backend, instance, "keys")
}

// EnsureKeys creates the key files in dir when missing (in parallel) and
// returns them; existing keys are reused.
func EnsureKeys(dir string) (*Keys, error) {
	k := &Keys{
		Dir:                 dir,
		VMKey:               filepath.Join(dir, "vm_ssh_key"),
		ContainerKey:        filepath.Join(dir, "container_ssh_key"),
		VMHostKey:           filepath.Join(dir, "vm_host_key"),
		ContainerHostKey:    filepath.Join(dir, "container_host_key"),
		VMKnownHosts:        filepath.Join(dir, "vm_known_hosts"),
		ContainerKnownHosts: filepath.Join(dir, "container_known_hosts"),
	}
	jobs := []struct {
		path, comment string
		pub           *string
	}{
		{k.VMKey, "mngr-vm", &k.VMKeyPub},
		{k.ContainerKey, "mngr-container", &k.ContainerKeyPub},
		{k.VMHostKey, "mngr-vm-host", &k.VMHostKeyPub},
		{k.ContainerHostKey, "mngr-container-host", &k.ContainerHostKeyPub},
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub, err := sshx.EnsureKey(j.path, j.comment)
			if err != nil {
				errs[i] = fmt.Errorf("ensure key %q: %w", j.path, err)
				return
			}
			*j.pub = pub
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}
