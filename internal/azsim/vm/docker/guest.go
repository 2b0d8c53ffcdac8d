package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// serve starts the machine's IMDS and ARM sockets unless they run already.
func (b *Backend) serve(m *machine) error {
	if m.endpoints != nil {
		return nil
	}
	h := &imdsHandler{
		spec: func() vm.Spec {
			b.mu.Lock()
			defer b.mu.Unlock()
			return m.Spec
		},
		issue: b.opts.IssueMIToken,
		now:   time.Now,
	}
	var apt dialARM
	if b.aptProxy != "" {
		apt = b.dialAPTProxy
	}
	e, err := serveGuestEndpoints(m.HostDir, h, b.dialARM, apt, b.opts.NPMRegistry)
	if err != nil {
		return err
	}
	m.endpoints = e
	return nil
}

// dialARM connects to azsim's ARM listener: its unix socket when given,
// else the TCP address of the ARM URL.
func (b *Backend) dialARM(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	if b.opts.ARMSocket != "" {
		return d.DialContext(ctx, "unix", b.opts.ARMSocket)
	}
	if b.arm == nil {
		return nil, errors.New("no ARM URL configured")
	}
	u, err := url.Parse(b.opts.ARMURL)
	if err != nil {
		return nil, fmt.Errorf("parse arm url: %w", err)
	}
	return d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), b.arm.Port))
}

// dialAPTProxy connects to the host's apt cache (Options.APTProxy).
func (b *Backend) dialAPTProxy(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", b.aptProxy)
}

// writeGuestFiles writes the NoCloud seed, the per-VM cloud config and the
// forwarders' settings. Files are rewritten in place, as the container
// mounts them.
func (b *Backend) writeGuestFiles(m *machine, spec vm.Spec) error {
	files, err := renderGuestFiles(spec, vmIDFor(spec.ResourceID))
	if err != nil {
		return err
	}
	dir := b.machineDir(m.Key)
	for _, d := range []string{filepath.Join(dir, "seed"), m.HostDir} {
		if err := os.MkdirAll(d, 0o755); err != nil { //nolint:gosec // read by the VM
			return fmt.Errorf("create %q: %w", d, err)
		}
	}
	for path, data := range map[string][]byte{
		filepath.Join(dir, "seed", "user-data"): files.UserData,
		filepath.Join(dir, "seed", "meta-data"): files.MetaData,
		filepath.Join(dir, "cloud.cfg"):         files.CloudCfg,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %q: %w", path, err)
		}
	}
	return b.writeForwarderEnvs(m)
}

// writeForwarderEnvs tells the in-guest forwarders where ARM must answer
// and on which loopback ports the apt and npm caches are; without an ARM
// URL (an apt proxy, an npm cache) that file is absent and its forwarder
// does not run.
func (b *Backend) writeForwarderEnvs(m *machine) error {
	npmPath := filepath.Join(m.HostDir, npmEnvName)
	if b.opts.NPMRegistry == nil {
		if err := os.Remove(npmPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", npmPath, err)
		}
	} else {
		if err := os.MkdirAll(m.HostDir, 0o755); err != nil { //nolint:gosec // read by the VM
			return fmt.Errorf("create %q: %w", m.HostDir, err)
		}
		if err := os.WriteFile(npmPath, []byte(fmt.Sprintf("NPM_REGISTRY_PORT=%d\n", GuestNPMRegistryPort)), 0o644); err != nil { //nolint:gosec // read by the VM
			return fmt.Errorf("write %q: %w", npmPath, err)
		}
	}
	aptPath := filepath.Join(m.HostDir, aptProxyEnvName)
	if b.aptProxy == "" {
		if err := os.Remove(aptPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", aptPath, err)
		}
	} else {
		if err := os.MkdirAll(m.HostDir, 0o755); err != nil { //nolint:gosec // read by the VM
			return fmt.Errorf("create %q: %w", m.HostDir, err)
		}
		_, port, _ := net.SplitHostPort(b.aptProxy)
		if err := os.WriteFile(aptPath, []byte("APT_PROXY_PORT="+port+"\n"), 0o644); err != nil { //nolint:gosec // read by the VM
			return fmt.Errorf("write %q: %w", aptPath, err)
		}
	}
	path := filepath.Join(m.HostDir, armEnvName)
	if b.arm == nil {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", path, err)
		}
		return nil
	}
	if err := os.MkdirAll(m.HostDir, 0o755); err != nil { //nolint:gosec // read by the VM
		return fmt.Errorf("create %q: %w", m.HostDir, err)
	}
	if err := os.WriteFile(path, armEnv(*b.arm), 0o644); err != nil { //nolint:gosec // read by the VM
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}
