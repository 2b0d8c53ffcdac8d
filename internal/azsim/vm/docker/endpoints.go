package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Sockets in a VM's host dir, which the container sees at /var/lib/azsim/host.
const (
	imdsSocketName     = "imds.sock"
	armSocketName      = "arm.sock"
	armEnvName         = "arm.env"
	aptProxySocketName = "apt-proxy.sock"
	aptProxyEnvName    = "apt-proxy.env"
	npmSocketName      = "npm-registry.sock"
	npmEnvName         = "npm-registry.env"
	guestHostDir       = "/var/lib/azsim/host"
)

// guestEndpoints serves one VM's view of the cloud on unix sockets that the
// VM's forwarders reach: IMDS (answered here, so the socket names the VM),
// ARM (a byte pipe to azsim's ARM listener; TLS stays end to end) and, when
// azsim has one, the apt cache (a byte pipe to the host's apt-cacher-ng)
// and the npm registry cache (answered here).
type guestEndpoints struct {
	imds   *http.Server
	imdsLn net.Listener
	armLn  net.Listener
	wire   *http.Server
	wireLn net.Listener
	aptLn  net.Listener
	npm    *http.Server // nil without an npm cache

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// dialARM opens a connection to azsim's ARM listener (or, for the apt
// socket, to the host's apt cache).
type dialARM func(ctx context.Context) (net.Conn, error)

// serveGuestEndpoints listens on dir/imds.sock, dir/arm.sock and
// dir/wireserver.sock, on dir/apt-proxy.sock when apt is not nil and on
// dir/npm-registry.sock when npm is not nil; a socket not served is removed.
func serveGuestEndpoints(dir string, imds http.Handler, arm, apt dialARM, npm http.Handler) (*guestEndpoints, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // the VM's root reads these sockets
		return nil, fmt.Errorf("create guest socket dir %q: %w", dir, err)
	}
	imdsLn, err := listenUnix(filepath.Join(dir, imdsSocketName))
	if err != nil {
		return nil, err
	}
	armLn, err := listenUnix(filepath.Join(dir, armSocketName))
	if err != nil {
		_ = imdsLn.Close()
		return nil, err
	}
	wireLn, err := listenUnix(filepath.Join(dir, wireServerSocketName))
	if err != nil {
		_ = imdsLn.Close()
		_ = armLn.Close()
		return nil, err
	}
	var aptLn net.Listener
	if apt != nil {
		if aptLn, err = listenUnix(filepath.Join(dir, aptProxySocketName)); err != nil {
			_ = imdsLn.Close()
			_ = armLn.Close()
			_ = wireLn.Close()
			return nil, err
		}
	} else if err := os.Remove(filepath.Join(dir, aptProxySocketName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = imdsLn.Close()
		_ = armLn.Close()
		_ = wireLn.Close()
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	var npmLn net.Listener
	if npm != nil {
		npmLn, err = listenUnix(filepath.Join(dir, npmSocketName))
	} else if rmErr := os.Remove(filepath.Join(dir, npmSocketName)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = fmt.Errorf("remove stale socket: %w", rmErr)
	}
	if err != nil {
		for _, ln := range []net.Listener{imdsLn, armLn, wireLn, aptLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		return nil, err
	}
	e := &guestEndpoints{
		imds:   &http.Server{Handler: imds, ReadHeaderTimeout: 10 * time.Second},
		imdsLn: imdsLn,
		armLn:  armLn,
		wire:   &http.Server{Handler: wireServerHandler{}, ReadHeaderTimeout: 10 * time.Second},
		wireLn: wireLn,
		aptLn:  aptLn,
		conns:  map[net.Conn]struct{}{},
	}
	if npmLn != nil {
		// No write timeout: a tarball may be hundreds of MB.
		e.npm = &http.Server{Handler: npm, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			_ = e.npm.Serve(npmLn)
		}()
	}
	e.wg.Add(3)
	go func() {
		defer e.wg.Done()
		_ = e.imds.Serve(imdsLn)
	}()
	go func() {
		defer e.wg.Done()
		_ = e.wire.Serve(wireLn)
	}()
	go func() {
		defer e.wg.Done()
		e.pipeTo(armLn, arm)
	}()
	if aptLn != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.pipeTo(aptLn, apt)
		}()
	}
	return e, nil
}

func listenUnix(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %q: %w", path, err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %q: %w", path, err)
	}
	// The VM's services run as root, but be explicit: anyone in the VM may call IMDS.
	if err := os.Chmod(path, 0o666); err != nil { //nolint:gosec // IMDS is open to every process of the VM, as on Azure
		_ = ln.Close()
		return nil, fmt.Errorf("chmod socket %q: %w", path, err)
	}
	return ln, nil
}

// pipeTo accepts connections on ln and copies bytes both ways to what dial
// reaches until either side closes.
func (e *guestEndpoints) pipeTo(ln net.Listener, dial dialARM) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.track(c, true)
			defer e.track(c, false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			up, err := dial(ctx)
			cancel()
			if err != nil {
				_ = c.Close()
				return
			}
			e.track(up, true)
			defer e.track(up, false)
			pipe(c, up)
		}()
	}
}

func (e *guestEndpoints) track(c net.Conn, add bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if add {
		e.conns[c] = struct{}{}
		return
	}
	delete(e.conns, c)
	_ = c.Close()
}

// pipe copies a↔b, half-closing each direction when its source ends.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go half(a, b)
	go half(b, a)
	wg.Wait()
}

// close stops both endpoints and every open ARM pipe.
func (e *guestEndpoints) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.imds.Shutdown(ctx)
	_ = e.wire.Shutdown(ctx)
	if e.npm != nil {
		_ = e.npm.Shutdown(ctx)
		_ = e.npm.Close()
	}
	_ = e.armLn.Close()
	if e.aptLn != nil {
		_ = e.aptLn.Close()
	}
	e.mu.Lock()
	for c := range e.conns {
		_ = c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}
