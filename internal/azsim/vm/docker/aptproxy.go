package docker

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// The host's Debian package cache, which azsim forwards into its VMs.
const (
	// EnvAPTProxy is azsim's --apt-proxy default (127.0.0.1:PORT).
	EnvAPTProxy = "MNGR_AZSIM_APT_PROXY"
	// DefaultAPTProxy is where scripts/setup.sh runs apt-cacher-ng.
	DefaultAPTProxy = "127.0.0.1:3142"
)

// LocalAPTProxy returns the apt cache the tests and scripts give azsim:
// $MNGR_AZSIM_APT_PROXY, else DefaultAPTProxy; it fails with
// core.ErrUnavailable when nothing answers there, so that no test's VM
// falls back to the Debian archive on its own.
func LocalAPTProxy(ctx context.Context, getenv func(string) string) (string, error) {
	raw := getenv(EnvAPTProxy)
	if raw == "" {
		raw = DefaultAPTProxy
	}
	addr, err := parseAPTProxy(raw)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", core.WithHint(fmt.Errorf("apt cache %s: %w: %w", addr, err, core.ErrUnavailable),
			"run scripts/setup.sh (it starts apt-cacher-ng on %s)", DefaultAPTProxy)
	}
	_ = c.Close()
	return addr, nil
}
