// Package sshtest is an in-process SSH server for tests only; mngr itself
// never imports it.
//
// A Server listens on a loopback address of the test's choosing (any of
// 127.0.0.0/8 works on Linux without configuring an interface), presents a
// given host key, lets in one authorized public key and runs each exec
// request with `sh -c` on this machine, in a chosen directory and
// environment. It counts what clients do to it, and it can play a dead host:
// ModeSilent accepts TCP connections but never speaks SSH (the client's
// handshake timeout is what ends the attempt, as with a VM whose sshd hangs),
// ModeReset accepts and at once resets them.
package sshtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Mode is how a Server treats new connections.
type Mode int32

const (
	// ModeServe speaks SSH and runs commands.
	ModeServe Mode = iota
	// ModeSilent accepts the TCP connection and never sends a byte: the
	// "running but unreachable" host.
	ModeSilent
	// ModeReset accepts the TCP connection and resets it at once (RST), so
	// the client fails fast, as against a closed port.
	ModeReset
)

// Config describes one server.
type Config struct {
	// Addr is the listen address; empty means 127.0.0.1:0.
	Addr string
	// HostKeyPEM is the server's private host key (OpenSSH PEM). Required.
	HostKeyPEM []byte
	// AuthorizedKey is the one public key (authorized_keys format) allowed
	// to log in; empty lets nobody in.
	AuthorizedKey string
	// Dir is the working directory of the commands; empty is the test's own.
	Dir string
	// Env is added to this process's environment for the commands, before
	// the variables the client sends.
	Env []string
	// Latency delays the start of each handshake and of each command, a
	// crude stand-in for a distant machine's round trips.
	Latency time.Duration
	// Mode is the initial mode (ModeServe by default).
	Mode Mode
}

// Stats counts what clients did.
type Stats struct {
	// Conns is the number of TCP connections accepted, whatever the mode.
	Conns int
	// Handshakes is the number of completed, authenticated SSH handshakes.
	Handshakes int
	// Execs is the number of exec requests run.
	Execs int
}

// Server is a running test SSH server.
type Server struct {
	cfg     Config
	sshCfg  *ssh.ServerConfig
	ln      net.Listener
	hostPub string
	mode    atomic.Int32

	conns, handshakes, execs atomic.Int64

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	signer, err := ssh.ParsePrivateKey(cfg.HostKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("sshtest: parse host key: %w", err)
	}
	var authorized ssh.PublicKey
	if cfg.AuthorizedKey != "" {
		if authorized, _, _, _, err = ssh.ParseAuthorizedKey([]byte(cfg.AuthorizedKey)); err != nil {
			return nil, fmt.Errorf("sshtest: parse authorized key: %w", err)
		}
	}
	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if authorized != nil && bytes.Equal(k.Marshal(), authorized.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("sshtest: key not authorized")
		},
	}
	sc.AddHostKey(signer)
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sshtest: listen on %s: %w", addr, err)
	}
	s := &Server{
		cfg: cfg, sshCfg: sc, ln: ln,
		hostPub: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
		open:    map[net.Conn]struct{}{},
	}
	s.mode.Store(int32(cfg.Mode))
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// MustStart starts a server or fails tb, and closes it when the test ends.
func MustStart(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the listen IP.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listen port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// HostPublicKey is the host key in authorized_keys format, ready to pin.
func (s *Server) HostPublicKey() string { return s.hostPub }

// SetMode changes how later connections are treated; open ones are kept.
func (s *Server) SetMode(m Mode) { s.mode.Store(int32(m)) }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Conns: int(s.conns.Load()), Handshakes: int(s.handshakes.Load()), Execs: int(s.execs.Load())}
}

// Close stops listening, drops every open connection and waits for the
// server's goroutines (commands still running are killed with their
// connection's channel closing).
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.ln.Close()
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// track registers an open connection; false when the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	_ = c.Close()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.conns.Add(1)
		if !s.track(c) {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c)
		}()
	}
}

func (s *Server) handle(c net.Conn) {
	switch Mode(s.mode.Load()) {
	case ModeSilent:
		// Read and discard until the client gives up or Close drops us.
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	case ModeReset:
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	if s.cfg.Latency > 0 {
		time.Sleep(s.cfg.Latency)
	}
	conn, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		return
	}
	s.handshakes.Add(1)
	defer func() { _ = conn.Close() }()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sshtest serves sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ch, creqs)
		}()
	}
}

// session serves one session channel: env requests, then one exec; signal
// requests kill the running command.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	var env []string
	for r := range reqs {
		switch r.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(r.Payload, &kv) != nil {
				_ = r.Reply(false, nil)
				continue
			}
			env = append(env, kv.Name+"="+kv.Value)
			_ = r.Reply(true, nil)
		case "exec":
			var p struct{ Command string }
			if ssh.Unmarshal(r.Payload, &p) != nil {
				_ = r.Reply(false, nil)
				return
			}
			_ = r.Reply(true, nil)
			s.execs.Add(1)
			s.run(ch, reqs, p.Command, env)
			go ssh.DiscardRequests(reqs)
			return
		default:
			_ = r.Reply(false, nil)
		}
	}
}

func (s *Server) run(ch ssh.Channel, reqs <-chan *ssh.Request, command string, env []string) {
	if s.cfg.Latency > 0 {
		time.Sleep(s.cfg.Latency)
	}
	cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", command) //nolint:gosec // running the client's command is what an SSH server does
	cmd.Dir = s.cfg.Dir
	cmd.Env = append(append(os.Environ(), s.cfg.Env...), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
	// Its own process group, so a signal stops the children too; a child
	// that escapes still cannot hold the session open for long.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	code := 0
	if err := cmd.Start(); err != nil {
		_, _ = fmt.Fprintf(ch.Stderr(), "sshtest: %v\n", err)
		code = 127
	} else {
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case r, ok := <-reqs:
					if !ok {
						killGroup(cmd)
						return
					}
					if r.Type == "signal" {
						killGroup(cmd)
					}
					_ = r.Reply(false, nil)
				}
			}
		}()
		err := cmd.Wait()
		close(stop)
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
			if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
				code = 128 + int(st.Signal())
			}
		default:
			code = 255
		}
	}
	_ = ch.CloseWrite()
	var st [4]byte
	binary.BigEndian.PutUint32(st[:], uint32(code))
	_, _ = ch.SendRequest("exit-status", false, st[:])
}

// killGroup kills the command and everything it started.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// String names the server for test logs.
func (s *Server) String() string {
	return "sshtest(" + s.Addr() + ", mode " + strconv.Itoa(int(s.mode.Load())) + ")"
}
