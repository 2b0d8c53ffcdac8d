package azure

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// Tag names mngr puts on Azure resources.
const (
	tagManagedBy     = "managed-by"
	tagManagedByMngr = "mngr"
	tagProvider      = "mngr-provider"
	tagHostID        = "mngr-host-id"
	tagHostName      = "mngr-host-name"
	tagCreatedAt     = "mngr-created-at"
	tagSelfDealloc   = "mngr-self-deallocate"
)

var validBuildArgs = []string{"--azure-region=REGION", "--azure-vm-size=SIZE", "--azure-spot"}

// ParseBuildArgs claims --azure-region=, --azure-vm-size= and --azure-spot and
// returns every other arg (including --git-depth=N) for the host layer.
func ParseBuildArgs(args []string, cfg Config) (vps.ProviderArgs, []string, error) {
	pa := vps.ProviderArgs{Region: cfg.DefaultRegion, Size: cfg.DefaultVMSize}
	var rest []string
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "--azure-region="):
			if v := strings.TrimPrefix(a, "--azure-region="); v != "" {
				if !regionRE.MatchString(v) {
					return pa, nil, fmt.Errorf("build arg %q: not an Azure region name: %w", a, core.ErrInvalidInput)
				}
				pa.Region = v
			}
		case strings.HasPrefix(a, "--azure-vm-size="):
			if v := strings.TrimPrefix(a, "--azure-vm-size="); v != "" {
				if !vmSizeRE.MatchString(v) {
					return pa, nil, fmt.Errorf("build arg %q: not a VM size name: %w", a, core.ErrInvalidInput)
				}
				pa.Size = v
			}
		case a == "--azure-spot":
			pa.Spot = true
		case strings.HasPrefix(a, "--azure-spot="):
			return pa, nil, fmt.Errorf("build arg %q: --azure-spot takes no value: %w", a, core.ErrInvalidInput)
		case strings.HasPrefix(a, "--azure-"):
			return pa, nil, fmt.Errorf("unknown build arg %q: valid Azure build args are %s: %w", a, strings.Join(validBuildArgs, ", "), core.ErrInvalidInput)
		default:
			rest = append(rest, a)
		}
	}
	return pa, rest, nil
}

var nameCharRE = regexp.MustCompile(`[^a-z0-9-]+`)

// vmName derives an Azure-valid VM name (also the Linux computer name) from
// the host name, with a suffix from the host id so names stay unique:
// lowercase letters, digits and '-', at most 64 chars, no leading or trailing '-'.
func vmName(hostName string, id core.HostID) string {
	suffix := id.Hex()
	if len(suffix) > 8 {
		suffix = suffix[:8]
	}
	base := nameCharRE.ReplaceAllString(strings.ToLower(hostName), "-")
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

// deterministicGUID returns a stable UUIDv5-like GUID for the given parts.
func deterministicGUID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	b := h[:16]
	b[6] = (b[6] & 0x0f) | 0x50
	b[8] = (b[8] & 0x3f) | 0x80
	s := hex.EncodeToString(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// powerStatus maps Azure's provisioning and power state codes to an instance status.
func powerStatus(provisioning string, codes []string) vps.InstanceStatus {
	switch strings.ToLower(provisioning) {
	case "failed":
		return vps.StatusFailed
	case "deleting":
		return vps.StatusDestroying
	case "creating":
		return vps.StatusPending
	}
	for _, c := range codes {
		switch strings.ToLower(c) {
		case "powerstate/running":
			return vps.StatusActive
		case "powerstate/deallocated":
			return vps.StatusStopped
		case "powerstate/stopped":
			return vps.StatusStoppedBilling
		case "powerstate/starting":
			return vps.StatusPending
		case "powerstate/deallocating", "powerstate/stopping":
			return vps.StatusStopping
		}
	}
	if slices.Contains([]string{"updating"}, strings.ToLower(provisioning)) {
		return vps.StatusPending
	}
	return vps.StatusUnknown
}

// parseUnix parses a decimal unix-seconds tag value; 0 when malformed.
func parseUnix(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
