package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// maxSocketPath keeps socket paths under the kernel's 108-byte limit.
const maxSocketPath = 100

// hostDirFor is the machine's socket dir: inside the data dir when the
// socket paths fit, else a short dir under the system temp dir.
func (b *Backend) hostDirFor(key string) string {
	dir := filepath.Join(b.machineDir(key), "host")
	if len(filepath.Join(dir, imdsSocketName)) <= maxSocketPath {
		return dir
	}
	return filepath.Join(os.TempDir(), "azsim-"+key)
}

// machineKey names a VM's machine: unique per data dir and resource id
// (resource ids are case-insensitive).
func machineKey(dataDir, resourceID string) string {
	sum := sha256.Sum256([]byte(dataDir + "\x00" + strings.ToLower(resourceID)))
	return hex.EncodeToString(sum[:])[:12]
}

var unsafeNameRE = regexp.MustCompile(`[^a-z0-9_.-]+`)

// containerName is "azsim-<vm name>-<key>", readable in `docker ps`.
func containerName(vmName, key string) string {
	n := strings.Trim(unsafeNameRE.ReplaceAllString(strings.ToLower(vmName), "-"), "-._")
	if len(n) > 40 {
		n = n[:40]
	}
	if n == "" {
		return "azsim-" + key
	}
	return "azsim-" + n + "-" + key
}

// hostnameLabel makes a computer name a valid hostname (one DNS label).
func hostnameLabel(name string) string {
	n := strings.Trim(regexp.MustCompile(`[^A-Za-z0-9-]+`).ReplaceAllString(name, "-"), "-")
	if len(n) > 63 {
		n = n[:63]
	}
	if n == "" {
		return "azsim-vm"
	}
	return n
}
