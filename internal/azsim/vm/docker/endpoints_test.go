package docker

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestGuestEndpoints checks, without docker, what a VM's forwarders reach:
// IMDS answered on imds.sock and a byte pipe from arm.sock to azsim's ARM.
func TestGuestEndpoints(t *testing.T) {
	dir, err := os.MkdirTemp("", "azsim-ep") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	// azsim's ARM listener stand-in: answers each line with "arm:<line>" and
	// closes after the client half-closes.
	armLn, err := net.Listen("unix", filepath.Join(dir, "upstream.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = armLn.Close() })
	go func() {
		for {
			c, err := armLn.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				data, _ := io.ReadAll(c)
				_, _ = c.Write([]byte("arm:" + string(data)))
			}()
		}
	}()
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(dir, "upstream.sock"))
	}
	imds := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("imds:" + r.URL.Path)) })

	// The apt socket pipes to a TCP listener standing in for apt-cacher-ng.
	aptUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = aptUp.Close() })
	go func() {
		for {
			c, err := aptUp.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				data, _ := io.ReadAll(c)
				_, _ = c.Write([]byte("apt:" + string(data)))
			}()
		}
	}()
	aptDial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", aptUp.Addr().String())
	}

	// The npm socket is answered in this process, by the handler given.
	npm := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("npm:" + r.Method + " " + r.URL.EscapedPath()))
	})

	e, err := serveGuestEndpoints(filepath.Join(dir, "host"), imds, dial, aptDial, npm)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			e.close()
		}
	})

	t.Run("arm pipe carries bytes both ways with half-close", func(t *testing.T) {
		for i := range 3 {
			c, err := net.Dial("unix", filepath.Join(dir, "host", armSocketName))
			if err != nil {
				t.Fatal(err)
			}
			msg := strings.Repeat("x", 1+i*70000)
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			_ = c.(*net.UnixConn).CloseWrite()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			_ = c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "arm:"+msg {
				t.Errorf("round trip %d: got %d bytes, want %d", i, len(got), len(msg)+4)
			}
		}
	})
	t.Run("apt proxy socket pipes to the host's cache", func(t *testing.T) {
		c, err := net.Dial("unix", filepath.Join(dir, "host", aptProxySocketName))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		_, _ = io.WriteString(c, "GET http://deb.debian.org/debian/dists/bookworm/InRelease")
		_ = c.(*net.UnixConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff("apt:GET http://deb.debian.org/debian/dists/bookworm/InRelease", string(got)); d != "" {
			t.Error(d)
		}
	})
	t.Run("npm registry is answered on its socket", func(t *testing.T) {
		c, err := net.Dial("unix", filepath.Join(dir, "host", npmSocketName))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		_, _ = io.WriteString(c, "GET /@anthropic-ai%2fclaude-code HTTP/1.1\r\nHost: 127.0.0.1:4873\r\nConnection: close\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if d := cmp.Diff("npm:GET /@anthropic-ai%2fclaude-code", string(body)); d != "" {
			t.Error(d)
		}
	})
	t.Run("imds is served on its socket", func(t *testing.T) {
		c, err := net.Dial("unix", filepath.Join(dir, "host", imdsSocketName))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		_, _ = io.WriteString(c, "GET /metadata/instance HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if d := cmp.Diff("imds:/metadata/instance", string(body)); d != "" {
			t.Error(d)
		}
	})
	t.Run("wireserver is served on its socket", func(t *testing.T) {
		c, err := net.Dial("unix", filepath.Join(dir, "host", wireServerSocketName))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		_, _ = io.WriteString(c, "GET /?comp=versions HTTP/1.1\r\nHost: 168.63.129.16\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<Versions>") {
			t.Errorf("wireserver answered %d %q", resp.StatusCode, body)
		}
	})
	t.Run("close stops every socket", func(t *testing.T) {
		e.close()
		closed = true
		for _, name := range []string{armSocketName, imdsSocketName, wireServerSocketName, aptProxySocketName, npmSocketName} {
			if c, err := net.Dial("unix", filepath.Join(dir, "host", name)); err == nil {
				_ = c.Close()
				t.Errorf("%s still accepts connections", name)
			}
		}
	})
	t.Run("without apt and npm caches their sockets are gone", func(t *testing.T) {
		for _, name := range []string{aptProxySocketName, npmSocketName} { // as a killed azsim leaves them
			if err := os.WriteFile(filepath.Join(dir, "host", name), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e2, err := serveGuestEndpoints(filepath.Join(dir, "host"), imds, dial, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e2.close()
		for _, name := range []string{aptProxySocketName, npmSocketName} {
			if _, err := os.Lstat(filepath.Join(dir, "host", name)); !os.IsNotExist(err) {
				t.Errorf("%s left behind: %v", name, err)
			}
		}
	})
}
