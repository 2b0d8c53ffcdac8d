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
// ModeReset accepts and at once resets them, ModeDropExecs lets clients log
// in and drops the connection at every command.
//
// It can also drop connections a few at a time, as a VM that just booted or
// restarts its sshd does: DropConns closes chosen connections (by number)
// before the banner, DropExec drops the connection of chosen commands (by
// number) before or after running them. A Config.Handler replaces `sh -c` with the test's
// own model of the machine, so a test can play a VM without touching this
// one.
package sshtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	// ModeDropExecs speaks SSH and lets the client log in, then drops the
	// connection whenever it asks to run a command (the command never
	// runs): a host whose every session dies.
	ModeDropExecs
)

// DropPoint says when DropExec drops a command's connection.
type DropPoint int

const (
	// BeforeRun drops the connection when the exec request arrives: the
	// command never runs.
	BeforeRun DropPoint = iota
	// AfterRun runs the command to its end, then drops the connection
	// instead of sending its exit status: the client cannot tell whether
	// it ran.
	AfterRun
)

// Exec is one command a Handler serves.
type Exec struct {
	// Command is the client's command line, as sent (mngr sends `sh -c 'SCRIPT'`).
	Command string
	// Env holds the variables the client sent, as KEY=VALUE.
	Env []string
	// Stdin is the client's input; Stdout and Stderr go back to it.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Handler serves one command and returns its exit status. ctx ends when the
// client signals the command or its session goes away.
type Handler func(ctx context.Context, e Exec) int

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
	// Handler, when set, serves each command instead of `sh -c` (Dir and
	// Env then do not apply).
	Handler Handler
}

// Stats counts what clients did.
type Stats struct {
	// Conns is the number of TCP connections accepted, whatever the mode.
	Conns int
	// Handshakes is the number of completed, authenticated SSH handshakes.
	Handshakes int
	// Execs is the number of exec requests run.
	Execs int
	// Dropped is the number of connections dropped on purpose: by
	// DropConns, DropExec or ModeDropExecs (not ModeReset).
	Dropped int
}

// Server is a running test SSH server.
type Server struct {
	cfg  Config
	ln   net.Listener
	mode atomic.Int32
	// authorized is the one client key let in (nil: nobody).
	authorized ssh.PublicKey
	// hostKey is what new connections are served with; SetHostKey swaps it.
	hostKey atomic.Pointer[servedHostKey]

	conns, handshakes, execs, dropped atomic.Int64

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	// dropConns holds the numbers of the connections to drop before the
	// banner.
	dropConns map[int]bool
	// execSeq numbers exec requests (1-based, over the server's life);
	// dropExecs maps the numbers to drop to when.
	execSeq   int
	dropExecs map[int]DropPoint
	// frozen, while not nil, holds every read and write of every
	// connection until it is closed (by Close): a peer that went silent
	// without closing anything, as a frozen VM or a dead network path.
	frozen chan struct{}
}

// servedHostKey is a host key with the server configuration presenting it.
type servedHostKey struct {
	sshCfg *ssh.ServerConfig
	pub    string
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, open: map[net.Conn]struct{}{}}
	if cfg.AuthorizedKey != "" {
		var err error
		if s.authorized, _, _, _, err = ssh.ParseAuthorizedKey([]byte(cfg.AuthorizedKey)); err != nil {
			return nil, fmt.Errorf("sshtest: parse authorized key: %w", err)
		}
	}
	if err := s.SetHostKey(cfg.HostKeyPEM); err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sshtest: listen on %s: %w", addr, err)
	}
	s.ln = ln
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
func (s *Server) HostPublicKey() string { return s.hostKey.Load().pub }

// SetHostKey makes the server present the host key pemKey (OpenSSH PEM)
// from the next connection on; open connections keep the key they were made
// with, as an sshd's do when its key files are replaced and it is reloaded.
// A test playing a machine uses it when the machine would install a key,
// for example the one cloud-init writes from the user data.
func (s *Server) SetHostKey(pemKey []byte) error {
	signer, err := ssh.ParsePrivateKey(pemKey)
	if err != nil {
		return fmt.Errorf("sshtest: parse host key: %w", err)
	}
	sc := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if s.authorized != nil && bytes.Equal(k.Marshal(), s.authorized.Marshal()) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("sshtest: key not authorized")
		},
	}
	sc.AddHostKey(signer)
	s.hostKey.Store(&servedHostKey{sshCfg: sc, pub: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(signer.PublicKey())))})
	return nil
}

// SetMode changes how later connections are treated; open ones are kept.
func (s *Server) SetMode(m Mode) { s.mode.Store(int32(m)) }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Conns: int(s.conns.Load()), Handshakes: int(s.handshakes.Load()),
		Execs: int(s.execs.Load()), Dropped: int(s.dropped.Load())}
}

// DropConns makes the server close the connections numbered ns (1-based,
// counting every connection it has accepted, as Stats.Conns does) before
// sending its banner, in ModeServe and ModeDropExecs: an sshd that is still
// starting or is restarting.
func (s *Server) DropConns(ns ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropConns == nil {
		s.dropConns = map[int]bool{}
	}
	for _, n := range ns {
		s.dropConns[n] = true
	}
}

// DropExec makes the server drop the whole connection of the commands
// numbered ns (1-based, counting every exec request the server has
// received, across connections), at the given point.
func (s *Server) DropExec(at DropPoint, ns ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropExecs == nil {
		s.dropExecs = map[int]DropPoint{}
	}
	for _, n := range ns {
		s.dropExecs[n] = at
	}
}

// ExecRequests is the number of exec requests received so far, dropped
// ones included: the number the next DropExec target is counted against.
func (s *Server) ExecRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.execSeq
}

// dropConn says whether to drop connection number n.
func (s *Server) dropConn(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropConns[n]
}

// nextExec numbers an exec request and says whether and when to drop it.
func (s *Server) nextExec() (DropPoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execSeq++
	at, ok := s.dropExecs[s.execSeq]
	return at, ok
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
	if s.frozen != nil {
		close(s.frozen)
	}
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
		n := int(s.conns.Add(1))
		if !s.track(c) {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c, n)
		}()
	}
}

// Freeze makes the server stop reading and writing on every connection,
// open or later, without closing any: the client sees silence. Close ends
// it.
func (s *Server) Freeze() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen == nil && !s.closed {
		s.frozen = make(chan struct{})
	}
}

// gate blocks while the server is frozen.
func (s *Server) gate() {
	s.mu.Lock()
	ch := s.frozen
	s.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// gatedConn is a connection that Freeze can silence.
type gatedConn struct {
	net.Conn
	s *Server
}

func (g gatedConn) Read(p []byte) (int, error) {
	g.s.gate()
	n, err := g.Conn.Read(p)
	g.s.gate()
	return n, err
}

func (g gatedConn) Write(p []byte) (int, error) {
	g.s.gate()
	return g.Conn.Write(p)
}

// handle serves connection number n.
func (s *Server) handle(c net.Conn, n int) {
	mode := Mode(s.mode.Load())
	switch mode {
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
	if s.dropConn(n) {
		s.dropped.Add(1)
		return // untrack closes it
	}
	if s.cfg.Latency > 0 {
		time.Sleep(s.cfg.Latency)
	}
	conn, chans, reqs, err := ssh.NewServerConn(gatedConn{Conn: c, s: s}, s.hostKey.Load().sshCfg)
	if err != nil {
		return
	}
	s.handshakes.Add(1)
	defer func() { _ = conn.Close() }()
	go ssh.DiscardRequests(reqs)
	// drop tears the whole connection down at once, as a dying sshd or a
	// broken network path would; the client's sessions all end with it.
	var dropOnce sync.Once
	drop := func() {
		dropOnce.Do(func() {
			s.dropped.Add(1)
			_ = c.Close()
		})
	}
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
			s.session(ch, creqs, mode == ModeDropExecs, drop)
		}()
	}
}

// session serves one session channel: env requests, then one exec; signal
// requests kill the running command. dropAll drops the connection at every
// exec request.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request, dropAll bool, drop func()) {
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
			at, dropThis := s.nextExec()
			if dropAll || dropThis && at == BeforeRun {
				drop()
				return
			}
			_ = r.Reply(true, nil)
			s.execs.Add(1)
			code := s.run(ch, reqs, p.Command, env)
			if dropThis {
				drop()
				return
			}
			_ = ch.CloseWrite()
			if code < 0 || code > 255 {
				code = 255 // an exit status is one byte
			}
			var st [4]byte
			binary.BigEndian.PutUint32(st[:], uint32(code))
			_, _ = ch.SendRequest("exit-status", false, st[:])
			go ssh.DiscardRequests(reqs)
			return
		default:
			_ = r.Reply(false, nil)
		}
	}
}

// run runs one command and returns its exit status; a signal request or the
// end of the session's requests kills it.
func (s *Server) run(ch ssh.Channel, reqs <-chan *ssh.Request, command string, env []string) int {
	if s.cfg.Latency > 0 {
		time.Sleep(s.cfg.Latency)
	}
	if s.cfg.Handler != nil {
		return s.runHandler(ch, reqs, command, env)
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
	return code
}

// runHandler serves one command with cfg.Handler, cancelling its context on
// a signal request or when the session's requests end.
func (s *Server) runHandler(ch ssh.Channel, reqs <-chan *ssh.Request, command string, env []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case r, ok := <-reqs:
				if !ok {
					cancel()
					return
				}
				if r.Type == "signal" {
					cancel()
				}
				_ = r.Reply(false, nil)
			}
		}
	}()
	code := s.cfg.Handler(ctx, Exec{Command: command, Env: env, Stdin: ch, Stdout: ch, Stderr: ch.Stderr()})
	close(stop)
	<-watched
	return code
}

// killGroup kills the command and everything it started.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// String names the server for test logs.
func (s *Server) String() string {
	return "sshtest(" + s.Addr() + ", mode " + strconv.Itoa(int(s.mode.Load())) + ")"
}
