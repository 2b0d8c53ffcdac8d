package azure

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

var nameCharRE = core.LazyRegexp(`[^a-z0-9-]+`)

// vmName derives an Azure-valid VM name (also the Linux computer name) from
// the host name, with a suffix from the host id so names stay unique:
// lowercase letters, digits and '-', at most 64 chars, no leading or trailing '-'.
func vmName(hostName string, id core.HostID) string {
	suffix := id.Hex()
	if len(suffix) > 8 {
		suffix = suffix[:8]
	}
	base := nameCharRE().ReplaceAllString(strings.ToLower(hostName), "-")
	base = strings.Trim(base, "-.")
	const maxLen = 64 - 1 - 8 - len("mngr-")
	if len(base) > maxLen {
		base = strings.TrimRight(base[:maxLen], "-.")
	}
	if base == "" {
		return "mngr-" + suffix
	}
	return "mngr-" + base + "-" + suffix
}

// nicName and ipName name the per-host network resources after the VM.
func nicName(vm string) string { return vm + "-nic" }
func ipName(vm string) string  { return vm + "-ip" }

// osDiskName names a VM's managed OS disk.
func osDiskName(vm string) string { return vm + "-osdisk" }

// deterministicGUID returns a stable UUIDv5-like GUID for the given parts.
func deterministicGUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b := h[:16]
	b[6] = (b[6] & 0x0f) | 0x50
	b[8] = (b[8] & 0x3f) | 0x80
	s := hex.EncodeToString(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func resourceName(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}
