package vps

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
)

// Keys are the local key files of one provider instance that all its hosts
// share: the client keys mngr logs in with and the known_hosts files in
// which each host's own host keys (HostKeys) are pinned.
type Keys struct {
	Dir string

	VMKey, ContainerKey               string // private key paths (".pub" beside them)
	VMKnownHosts, ContainerKnownHosts string

	// Public keys in authorized_keys format.
	VMKeyPub, ContainerKeyPub string
}

// HostKeys are the sshd host keys of one host: the VM's, which cloud-init
// installs, and the agent container's, which setup copies into the
// container. mngr generates them on this machine before the VM exists and
// pins them before it first connects, so nothing is trusted on first use.
type HostKeys struct {
	// Dir is the host's own key directory, <key dir>/hosts/<host id>; it is
	// "" for a host created before hosts had keys of their own, which uses
	// the provider instance's shared host key files.
	Dir string

	VMHostKey, ContainerHostKey string // private key paths (".pub" beside them)

	// Public keys in authorized_keys format.
	VMHostKeyPub, ContainerHostKeyPub string
}

// Shared reports whether these are the provider instance's shared host keys
// of a host created before per-host keys. Their pins belong to every such
// host, so they are dropped by address, never by key.
func (h *HostKeys) Shared() bool { return h.Dir == "" }

// Key file names, in the provider instance's key directory and, for the
// host keys, in each host's own directory.
const (
	vmKeyFile               = "vm_ssh_key"
	containerKeyFile        = "container_ssh_key"
	vmHostKeyFile           = "vm_host_key"
	containerHostKeyFile    = "container_host_key"
	vmKnownHostsFile        = "vm_known_hosts"
	containerKnownHostsFile = "container_known_hosts"
	// hostKeysDir holds one directory of host keys per host id.
	hostKeysDir = "hosts"
)

// KeyDir returns <localHostDir>/providers/<backend>/<instance>/keys.
func KeyDir(localHostDir, backend, instance string) string {
	return filepath.Join(localHostDir, "providers", backend, instance, "keys")
}

// HostKeyDir returns the directory of host id's own host keys under the
// provider instance's key directory: <keyDir>/hosts/<host id>.
func HostKeyDir(keyDir string, id core.HostID) string {
	return filepath.Join(keyDir, hostKeysDir, string(id))
}

// keyJob is one key file to ensure, and where its public key goes.
type keyJob struct {
	path, comment string
	pub           *string
}

// ensureKeyFiles runs sshx.EnsureKey for every job in parallel.
func ensureKeyFiles(jobs []keyJob) error {
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
	return errors.Join(errs...)
}

// EnsureKeys creates the provider instance's client keys in dir when missing
// (in parallel) and returns them; existing keys are reused. Host keys are
// per host (CreateHostKeys).
func EnsureKeys(dir string) (*Keys, error) {
	k := &Keys{
		Dir:                 dir,
		VMKey:               filepath.Join(dir, vmKeyFile),
		ContainerKey:        filepath.Join(dir, containerKeyFile),
		VMKnownHosts:        filepath.Join(dir, vmKnownHostsFile),
		ContainerKnownHosts: filepath.Join(dir, containerKnownHostsFile),
	}
	if err := ensureKeyFiles([]keyJob{
		{k.VMKey, "mngr-vm", &k.VMKeyPub},
		{k.ContainerKey, "mngr-container", &k.ContainerKeyPub},
	}); err != nil {
		return nil, err
	}
	return k, nil
}

// checkHostID refuses an id that is not a host id, so that a name read from
// the cloud or the disk never makes a path outside the key directory.
func checkHostID(id core.HostID) error {
	if !hostIDRe().MatchString(string(id)) {
		return fmt.Errorf("host id %q: %w", id, core.ErrInvalidInput)
	}
	return nil
}

// CreateHostKeys generates host id's VM and container host keys in its own
// directory under keyDir (0700; private keys 0600), reusing any already
// there.
func CreateHostKeys(keyDir string, id core.HostID) (*HostKeys, error) {
	if err := checkHostID(id); err != nil {
		return nil, fmt.Errorf("create host keys: %w", err)
	}
	dir := HostKeyDir(keyDir, id)
	h := &HostKeys{Dir: dir, VMHostKey: filepath.Join(dir, vmHostKeyFile), ContainerHostKey: filepath.Join(dir, containerHostKeyFile)}
	if err := ensureKeyFiles([]keyJob{
		{h.VMHostKey, "mngr-vm-host " + string(id), &h.VMHostKeyPub},
		{h.ContainerHostKey, "mngr-container-host " + string(id), &h.ContainerHostKeyPub},
	}); err != nil {
		return nil, fmt.Errorf("create host keys of %s: %w", id, err)
	}
	return h, nil
}

// LoadHostKeys returns host id's host keys: its own when keyDir has a
// directory for it, else (a host created before per-host keys) the provider
// instance's shared host key files. Neither wraps core.ErrNotFound: the host
// was created with another key directory, and mngr cannot verify it.
func LoadHostKeys(keyDir string, id core.HostID) (*HostKeys, error) {
	if err := checkHostID(id); err != nil {
		return nil, fmt.Errorf("load host keys: %w", err)
	}
	dir := HostKeyDir(keyDir, id)
	h := &HostKeys{Dir: dir}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		h.Dir, dir = "", keyDir
	} else if err != nil {
		return nil, fmt.Errorf("load host keys of %s: %w", id, err)
	}
	h.VMHostKey, h.ContainerHostKey = filepath.Join(dir, vmHostKeyFile), filepath.Join(dir, containerHostKeyFile)
	var err error
	if h.VMHostKeyPub, err = sshx.ReadPublicKey(h.VMHostKey); err == nil {
		h.ContainerHostKeyPub, err = sshx.ReadPublicKey(h.ContainerHostKey)
	}
	if err == nil {
		return h, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, core.WithHint(fmt.Errorf("host keys of %s: not in %s: %w", id, keyDir, core.ErrNotFound),
			"the host was created with another key directory (another machine or MNGR_HOST_DIR); use that one, "+
				"or destroy the host with `mngr destroy`")
	}
	return nil, fmt.Errorf("load host keys of %s: %w", id, err)
}

// RemoveHostKeys drops every pin of host id's own host keys from the
// known_hosts files of k (at any address the host had), then deletes its key
// directory. A host without a directory of its own (shared keys, or already
// removed) is left alone: its pins are dropped by address. It returns
// whether there was a directory to remove.
func RemoveHostKeys(k *Keys, id core.HostID) (bool, error) {
	if err := checkHostID(id); err != nil {
		return false, fmt.Errorf("remove host keys: %w", err)
	}
	dir := HostKeyDir(k.Dir, id)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("remove host keys of %s: %w", id, err)
	}
	for _, pin := range []struct{ key, knownHosts string }{
		{filepath.Join(dir, vmHostKeyFile), k.VMKnownHosts},
		{filepath.Join(dir, containerHostKeyFile), k.ContainerKnownHosts},
	} {
		pub, err := sshx.ReadPublicKey(pin.key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a create that stopped half way: nothing was pinned with it
		}
		if err != nil {
			return false, fmt.Errorf("remove host keys of %s: %w", id, err)
		}
		if err := sshx.UnpinKey(pin.knownHosts, pub); err != nil {
			return false, fmt.Errorf("remove host keys of %s: %w", id, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("remove host keys of %s: %w", id, err)
	}
	return true, nil
}

// hostKeyDirEntry is one host's key directory found on disk.
type hostKeyDirEntry struct {
	id      core.HostID
	dir     string
	modTime time.Time
}

// listHostKeyDirs lists the per-host key directories under keyDir, ordered
// by host id; entries whose name is not a host id are not mngr's and are
// skipped.
func listHostKeyDirs(keyDir string) ([]hostKeyDirEntry, error) {
	root := filepath.Join(keyDir, hostKeysDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list host keys: %w", err)
	}
	var out []hostKeyDirEntry
	for _, e := range entries {
		id := core.HostID(e.Name())
		if !e.IsDir() || checkHostID(id) != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("list host keys: %w", err)
		}
		out = append(out, hostKeyDirEntry{id: id, dir: filepath.Join(root, e.Name()), modTime: info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}
