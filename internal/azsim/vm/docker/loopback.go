package docker

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/mngr-azure/mngr/internal/core"
)

// checkPublicIP accepts only loopback IPv4 addresses: a simulated VM never
// gets an address that leaves this machine.
func checkPublicIP(ip string) error {
	p := net.ParseIP(ip)
	if p == nil || p.To4() == nil || !p.IsLoopback() {
		return fmt.Errorf("public ip %q: want an IPv4 loopback address (127.77.x.y): %w", ip, core.ErrInvalidInput)
	}
	return nil
}

// ensureLoopbackAddress puts ip/32 on lo when it is not there, and reports
// whether it added it. Every 127/8 address is local on Linux anyway, so a
// refusal (no CAP_NET_ADMIN) is not an error.
func ensureLoopbackAddress(ctx context.Context, ip string) (bool, error) {
	if err := checkPublicIP(ip); err != nil {
		return false, err
	}
	out, err := runCommand(ctx, "ip", "-o", "-4", "addr", "show", "dev", "lo")
	if err != nil {
		return false, nil //nolint:nilerr // without iproute2 the /8 route still makes the address local
	}
	if strings.Contains(out, " "+ip+"/") {
		return false, nil
	}
	if _, err := runCommand(ctx, "ip", "addr", "add", ip+"/32", "dev", "lo"); err != nil {
		return false, nil //nolint:nilerr // not permitted: the /8 route still makes the address local
	}
	return true, nil
}

// removeLoopbackAddress takes ip/32 off lo; an absent address is fine.
func removeLoopbackAddress(ctx context.Context, ip string) error {
	if _, err := runCommand(ctx, "ip", "addr", "del", ip+"/32", "dev", "lo"); err != nil &&
		!strings.Contains(err.Error(), "Cannot assign") && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("remove address %s from lo: %w", ip, err)
	}
	return nil
}

// addressInUse reports whether another machine of this backend has m's address.
func (b *Backend) addressInUse(m *machine) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.machines {
		if o != m && o.Spec.PublicIP == m.Spec.PublicIP {
			return true
		}
	}
	return false
}
