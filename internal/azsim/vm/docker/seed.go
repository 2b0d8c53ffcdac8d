package docker

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
	"github.com/mngr-azure/mngr/internal/core"
)

// guestFiles are the per-VM files the machine sees at boot.
type guestFiles struct {
	// UserData is the NoCloud user-data: the VM's customData unchanged.
	UserData []byte
	// MetaData is the NoCloud meta-data: instance id, hostname and the
	// request's SSH keys (cloud-init gives them to the default user).
	MetaData []byte
	// CloudCfg goes to /etc/cloud/cloud.cfg.d: it makes the admin user the
	// default user, as Azure's provisioning does before custom data runs.
	CloudCfg []byte
}

var adminUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// emptyUserData is the user-data of a VM without customData.
const emptyUserData = "#cloud-config\n"

// renderGuestFiles renders what cloud-init and the guest units read. YAML
// files are written as JSON, which YAML reads, so no value needs escaping.
func renderGuestFiles(spec vm.Spec, vmID string) (guestFiles, error) {
	if !adminUserRE.MatchString(spec.AdminUser) {
		return guestFiles{}, fmt.Errorf("admin user %q: want a Linux user name: %w", spec.AdminUser, core.ErrInvalidInput)
	}
	host := spec.ComputerName
	if host == "" {
		host = spec.Name
	}
	keys := []string{}
	for _, k := range spec.SSHPublicKeys {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	meta, err := json.MarshalIndent(map[string]any{
		"instance-id":    vmID,
		"local-hostname": host,
		"public-keys":    keys,
	}, "", "  ")
	if err != nil {
		return guestFiles{}, fmt.Errorf("render meta-data: %w", err)
	}
	cfg, err := json.MarshalIndent(map[string]any{
		"system_info": map[string]any{
			"default_user": map[string]any{
				"name":        spec.AdminUser,
				"gecos":       spec.AdminUser,
				"groups":      []string{"adm", "sudo"},
				"sudo":        []string{"ALL=(ALL) NOPASSWD:ALL"},
				"shell":       "/bin/bash",
				"lock_passwd": true,
			},
		},
	}, "", "  ")
	if err != nil {
		return guestFiles{}, fmt.Errorf("render cloud config: %w", err)
	}
	user := spec.CustomData
	if len(user) == 0 {
		user = []byte(emptyUserData)
	}
	return guestFiles{
		UserData: user,
		MetaData: append(meta, '\n'),
		CloudCfg: append([]byte("# azsim: the VM's admin user (Azure creates it before custom data runs).\n"), append(cfg, '\n')...),
	}, nil
}

// armEnv is the in-guest ARM forwarder's environment file.
func armEnv(a armListen) []byte {
	return []byte(fmt.Sprintf("ARM_BIND=%s\nARM_PORT=%s\n", a.Bind, a.Port))
}

// armListen is where, inside a VM, azsim's ARM must answer: the very host
// and port of the ARM URL mngr was configured with.
type armListen struct {
	Bind string
	Port string
}

// parseARMURL finds the loopback address and port of azsim's ARM URL.
func parseARMURL(raw string) (armListen, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return armListen{}, fmt.Errorf("arm url %q: want https://127.0.0.1:PORT: %w", raw, core.ErrInvalidInput)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return armListen{}, fmt.Errorf("arm url %q: the host must be an IPv4 loopback address: %w", raw, core.ErrInvalidInput)
	}
	return armListen{Bind: ip.String(), Port: port}, nil
}

// parseAPTProxy checks an apt cache address: an IPv4 loopback address and
// a port, as 127.0.0.1:3142 (a test packet never leaves the machine).
func parseAPTProxy(raw string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(raw, "http://"))
	if err != nil {
		return "", fmt.Errorf("apt proxy %q: want 127.0.0.1:PORT: %w", raw, core.ErrInvalidInput)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return "", fmt.Errorf("apt proxy %q: the host must be an IPv4 loopback address: %w", raw, core.ErrInvalidInput)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(port, "/"))
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("apt proxy %q: bad port: %w", raw, core.ErrInvalidInput)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(n)), nil
}

// vmIDFor is the stable VM id (IMDS vmId, cloud-init instance-id) of a
// resource id: the same VM keeps it across deallocate and start.
func vmIDFor(resourceID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("azsim:"+strings.ToLower(resourceID))).String()
}

// resourceParts are the pieces of an ARM resource id IMDS reports.
type resourceParts struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
}

// parseResourceID splits /subscriptions/S/resourceGroups/G/providers/…/NAME.
func parseResourceID(id string) resourceParts {
	var p resourceParts
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(segs); i += 2 {
		switch strings.ToLower(segs[i]) {
		case "subscriptions":
			p.SubscriptionID = segs[i+1]
		case "resourcegroups":
			p.ResourceGroup = segs[i+1]
		}
	}
	if len(segs) > 0 {
		p.Name = segs[len(segs)-1]
	}
	return p
}
