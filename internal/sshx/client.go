package sshx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mngr-azure/mngr/internal/core"
)

// ErrConnectionLost marks a failure of the SSH transport itself: the
// server refused, reset or closed the connection, or the session ended
// without the command's exit status. The command may or may not have run,
// so only an idempotent command is safe to run again. Timeouts and
// cancellations are not marked, nor are refused logins or host keys.
var ErrConnectionLost = errors.New("ssh connection lost")

// connLost marks err as ErrConnectionLost while keeping its text.
type connLost struct{ err error }

func (e *connLost) Error() string        { return e.err.Error() }
func (e *connLost) Unwrap() error        { return e.err }
func (e *connLost) Is(target error) bool { return target == ErrConnectionLost }

// markLost wraps err as a connLost when the transport dropped: EOF, a reset,
// a refused or broken connection, or an exit status that never came.
func markLost(err error) error {
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.As(err, &missing):
		return &connLost{err}
	}
	return err
}

// Target says how to reach one SSH server.
type Target struct {
	Host string
	Port int
	User string
	// KeyPath is the private key file used to log in.
	KeyPath string
	// KnownHostsPath is the known_hosts file holding the server's pinned key.
	KnownHostsPath string
	// DialTimeout bounds the TCP connect plus handshake; zero means 15 s.
	DialTimeout time.Duration
}

// Addr returns host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

func (t Target) key() string {
	return t.User + "@" + t.Addr() + "|" + t.KeyPath + "|" + t.KnownHostsPath
}

// Dial opens an authenticated SSH connection to t, accepting only the host
// key pinned in t.KnownHostsPath.
func Dial(ctx context.Context, t Target) (*ssh.Client, error) {
	signer, err := LoadSigner(t.KeyPath)
	if err != nil {
		return nil, err
	}
	cb, err := HostKeyCallback(t.KnownHostsPath)
	if err != nil {
		return nil, err
	}
	timeout := t.DialTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", t.Addr())
	if err != nil {
		return nil, markLost(fmt.Errorf("ssh connect %s: %w", t.Addr(), err))
	}
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	cfg := &ssh.ClientConfig{
		User:            t.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: cb,
		Timeout:         timeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, t.Addr(), cfg)
	if err != nil {
		_ = conn.Close()
		return nil, markLost(fmt.Errorf("ssh handshake %s@%s: %w", t.User, t.Addr(), err))
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	go keepAlive(client, keepAliveEvery, keepAliveMisses)
	return client, nil
}

// A peer that stops answering without closing anything (a frozen VM, a
// network path that died without a reset) would leave a command on its
// connection waiting for the whole of its step's timeout, up to minutes.
// Every connection therefore sends a keepalive each keepAliveEvery and is
// closed after keepAliveMisses unanswered ones in a row; the command on it
// then fails as a lost connection (ErrConnectionLost), which setup retries
// where that is safe. A busy peer still answers: sshd replies to keepalives
// while a command runs.
var (
	keepAliveEvery  = 10 * time.Second
	keepAliveMisses = 3
)

// keepAlive runs until c is closed, closing it when its peer falls silent.
func keepAlive(c *ssh.Client, every time.Duration, misses int) {
	closed := make(chan struct{})
	go func() { _ = c.Wait(); close(closed) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	missed := 0
	for {
		select {
		case <-closed:
			return
		case <-tick.C:
		}
		if answers(c, every) {
			missed = 0
			continue
		}
		if missed++; missed >= misses {
			core.Debugf("ssh %s: no answer to %d keepalives %s apart; closing the connection", c.RemoteAddr(), misses, every)
			_ = c.Close()
			return
		}
	}
}

// answers reports whether c's peer replies to a keepalive within timeout.
// A request left waiting ends when the connection closes.
func answers(c *ssh.Client, timeout time.Duration) bool {
	done := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err == nil
	case <-t.C:
		return false
	}
}

// WaitForSSH waits until an SSH server answers at addr (host:port) with its
// version banner, trying again until timeout. It trusts nothing: the real
// connection afterwards checks the pinned host key.
//
// Each probe gets at most 5 s and a failed one is followed by a pause of
// waitPause (0.1 s, growing to 0.5 s), so a server that refuses or drops
// every connection sees at most 5 + timeout/0.5 s probes, and a silent one
// about timeout/5 s.
func WaitForSSH(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	attempts := 0
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		per := min(5*time.Second, max(time.Second, remaining))
		attempts++
		if last = probeBanner(ctx, addr, per); last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for ssh at %s: %w", addr, ctx.Err())
		}
		// A refused connection returns at once: pause briefly so the loop
		// does not spin, bounded by the deadline.
		if err := core.Sleep(ctx, min(waitPause(attempts), time.Until(deadline))); err != nil {
			return fmt.Errorf("wait for ssh at %s: %w", addr, err)
		}
	}
	return fmt.Errorf("SSH server not ready after %ds at %s (%d attempts, last error: %v): %w",
		int(timeout.Seconds()), addr, attempts, last, core.ErrTimeout)
}

// waitPause is WaitForSSH's pause after its n-th failed probe: 100 ms more
// each time up to 500 ms, so a server that comes up right after the first
// refusal (a container's sshd just started) is seen within a tenth of a
// second, and one that keeps refusing is probed twice a second.
func waitPause(n int) time.Duration {
	return min(500*time.Millisecond, time.Duration(n)*100*time.Millisecond)
}

func probeBanner(ctx context.Context, addr string, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("unexpected banner %q", strings.TrimSpace(line))
	}
	return nil
}

// Pool keeps one SSH client per target for the life of the process.
type Pool struct {
	mu      sync.Mutex
	clients map[string]*ssh.Client
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{clients: map[string]*ssh.Client{}} }

// Client returns a live client for t, dialing when there is none or the
// cached one is dead.
func (p *Pool) Client(ctx context.Context, t Target) (*ssh.Client, error) {
	k := t.key()
	p.mu.Lock()
	stale := p.clients[k]
	p.mu.Unlock()
	if stale != nil {
		// A cached connection whose peer went silent must not hang the
		// caller: it gets staleCheck to answer.
		if answers(stale, staleCheck) {
			return stale, nil
		}
	}
	c, err := Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.clients[k]; cur != nil && cur != stale {
		// Another caller connected meanwhile: share its client.
		_ = c.Close()
		return cur, nil
	}
	if stale != nil {
		_ = stale.Close()
	}
	p.clients[k] = c
	return c, nil
}

// staleCheck is how long Pool.Client waits for a cached connection to
// answer before it dials a new one.
const staleCheck = 5 * time.Second

// Forget closes and drops any client for a target at host:port.
func (p *Pool) Forget(host string, port int) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		if strings.Contains(k, "@"+addr+"|") {
			_ = c.Close()
			delete(p.clients, k)
		}
	}
}

// Close closes every client.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.clients {
		_ = c.Close()
		delete(p.clients, k)
	}
}

// Executor runs scripts on an SSH target; it implements core.Executor.
type Executor struct {
	Pool   *Pool
	Target Target
}

var _ core.Executor = (*Executor)(nil)

// Run runs script with `sh -c` on the target. A non-zero exit is reported in
// the result; transport failures are errors, marked ErrConnectionLost when
// the connection dropped. When ctx ends first, Run signals the command and
// returns at once; writers in opts may then still receive late output.
func (e *Executor) Run(ctx context.Context, script string, opts core.RunOptions) (core.RunResult, error) {
	c, err := e.Pool.Client(ctx, e.Target)
	if err != nil {
		return core.RunResult{}, err
	}
	s, err := c.NewSession()
	if err != nil {
		// The cached connection may have died between the check and now.
		e.Pool.Forget(e.Target.Host, e.Target.Port)
		if c, err = e.Pool.Client(ctx, e.Target); err != nil {
			return core.RunResult{}, err
		}
		if s, err = c.NewSession(); err != nil {
			return core.RunResult{}, markLost(fmt.Errorf("ssh session on %s: %w", e.Target.Addr(), err))
		}
	}
	defer func() { _ = s.Close() }()
	// The session's copy goroutines may still write after a cancelled Run
	// returns: the buffers lock so reading them then is safe.
	var outBuf, errBuf lockedBuffer
	s.Stdout, s.Stderr = &outBuf, &errBuf
	if opts.Stdout != nil {
		s.Stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		s.Stderr = opts.Stderr
	}
	if opts.Stdin != nil {
		s.Stdin = opts.Stdin
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Run("sh -c " + core.ShellQuote(script)) }()
	select {
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGKILL)
		_ = s.Close()
		err = fmt.Errorf("run on %s: %w", e.Target.Addr(), ctx.Err())
		e.debug(script, start, -1, err)
		return core.RunResult{Stdout: outBuf.String(), Stderr: errBuf.String()}, err
	case err = <-done:
	}
	res := core.RunResult{Stdout: outBuf.String(), Stderr: errBuf.String()}
	if err != nil {
		var exit *ssh.ExitError
		var missing *ssh.ExitMissingError
		switch {
		case errors.As(err, &exit):
			res.ExitCode, err = exit.ExitStatus(), nil
		case errors.As(err, &missing):
			err = markLost(fmt.Errorf("run on %s: connection lost before the command exited: %w", e.Target.Addr(), err))
		default:
			err = markLost(fmt.Errorf("run on %s: %w", e.Target.Addr(), err))
		}
	}
	e.debug(script, start, res.ExitCode, err)
	return res, err
}

// debug logs one command for -v: where, its first line, how it ended.
func (e *Executor) debug(script string, start time.Time, exit int, err error) {
	if !core.DebugEnabled() {
		return
	}
	outcome := fmt.Sprintf("exit %d", exit)
	if err != nil {
		outcome = err.Error()
	}
	core.Debugf("ssh %s@%s: %s → %s (%s)", e.Target.User, e.Target.Addr(), core.ScriptSummary(script), outcome, time.Since(start).Round(time.Millisecond))
}

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// InteractiveArgv returns the ssh command line that runs script on the
// target with a terminal, checking the pinned host key strictly and with no
// agent, X11 or port forwarding.
func (e *Executor) InteractiveArgv(script string) []string {
	argv := []string{"ssh", "-t",
		"-i", e.Target.KeyPath,
		"-p", strconv.Itoa(e.Target.Port),
		"-o", "UserKnownHostsFile=" + e.Target.KnownHostsPath,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes",
	}
	argv = append(argv, core.NoForwardingSSHOptions...)
	return append(argv, e.Target.User+"@"+e.Target.Host, "sh -c "+core.ShellQuote(script))
}

// WriteFile writes data to path on the target through `cat >` on stdin,
// creating the parent directory, then sets mode.
func (e *Executor) WriteFile(ctx context.Context, path string, data []byte, mode uint32) error {
	q := core.ShellQuote(path)
	tmp := core.ShellQuote(path + ".mngr-tmp")
	script := fmt.Sprintf("mkdir -p \"$(dirname %s)\" && cat > %s && chmod %o %s && mv -f %s %s",
		q, tmp, mode, tmp, tmp, q)
	res, err := e.Run(ctx, script, core.RunOptions{Stdin: bytes.NewReader(data)})
	if err != nil {
		return fmt.Errorf("write %s on %s: %w", path, e.Target.Addr(), err)
	}
	if !res.OK() {
		return fmt.Errorf("write %s on %s: exit %d: %s", path, e.Target.Addr(), res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	return nil
}
