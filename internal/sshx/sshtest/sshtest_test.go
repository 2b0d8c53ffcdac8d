package sshtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
)

type fixture struct {
	srv    *sshtest.Server
	target sshx.Target
	dir    string
}

func newFixture(t *testing.T, cfg sshtest.Config) fixture {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	pub, err := sshx.EnsureKey(key, "client")
	if err != nil {
		t.Fatal(err)
	}
	hostPEM, _, err := sshx.GenerateEd25519("host")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HostKeyPEM = hostPEM
	if cfg.AuthorizedKey == "" {
		cfg.AuthorizedKey = pub
	}
	srv := sshtest.MustStart(t, cfg)
	kh := filepath.Join(dir, "known_hosts")
	if err := sshx.PinHostKey(kh, srv.Host(), srv.Port(), srv.HostPublicKey()); err != nil {
		t.Fatal(err)
	}
	return fixture{srv: srv, dir: dir, target: sshx.Target{Host: srv.Host(), Port: srv.Port(), User: "root",
		KeyPath: key, KnownHostsPath: kh, DialTimeout: 5 * time.Second}}
}

func TestServeRunsCommandsInDirWithEnv(t *testing.T) {
	work := t.TempDir()
	fx := newFixture(t, sshtest.Config{Addr: "127.0.0.1:0", Dir: work, Env: []string{"SSHTEST_FROM_CONFIG=cfg"}})
	if err := os.WriteFile(filepath.Join(work, "marker"), []byte("here"), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := sshx.NewPool()
	t.Cleanup(pool.Close)
	ex := &sshx.Executor{Pool: pool, Target: fx.target}
	ctx := context.Background()
	res, err := ex.Run(ctx, `cat marker; echo " $SSHTEST_FROM_CONFIG"; echo oops >&2; exit 7`, core.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "here cfg\n" || res.Stderr != "oops\n" || res.ExitCode != 7 {
		t.Errorf("run = %+v; want stdout %q, stderr %q, exit 7", res, "here cfg\n", "oops\n")
	}
	res, err = ex.Run(ctx, "tr a-z A-Z", core.RunOptions{Stdin: strings.NewReader("stdin")})
	if err != nil || res.Stdout != "STDIN" {
		t.Errorf("stdin run = %+v, %v", res, err)
	}
	// Variables the client sends reach the command too.
	c, err := pool.Client(ctx, fx.target)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Setenv("SSHTEST_FROM_CLIENT", "cli"); err != nil {
		t.Fatal(err)
	}
	out, err := s.Output("echo $SSHTEST_FROM_CLIENT")
	if err != nil || string(out) != "cli\n" {
		t.Errorf("client env: %q, %v", out, err)
	}
	if st := fx.srv.Stats(); st != (sshtest.Stats{Conns: 1, Handshakes: 1, Execs: 3}) {
		t.Errorf("stats %+v; want one connection, one handshake, three execs", st)
	}
}

func TestCancelKillsCommand(t *testing.T) {
	fx := newFixture(t, sshtest.Config{})
	pool := sshx.NewPool()
	t.Cleanup(pool.Close)
	ex := &sshx.Executor{Pool: pool, Target: fx.target}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := ex.Run(ctx, "sleep 30", core.RunOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("run of sleep 30 with 300ms context: %v after %v", err, time.Since(start))
	}
	// The signal killed sh and its sleep: the server closes at once
	// instead of waiting for the sleep's stdout.
	pool.Close()
	start = time.Now()
	fx.srv.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("server took %v to close after the cancelled command", took)
	}
}

func TestDeadModes(t *testing.T) {
	tests := []struct {
		name    string
		mode    sshtest.Mode
		minWait time.Duration
	}{
		// A silent host holds the client until its handshake timeout.
		{"silent", sshtest.ModeSilent, 400 * time.Millisecond},
		// A reset host fails the client at once.
		{"reset", sshtest.ModeReset, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, sshtest.Config{Mode: tt.mode})
			tg := fx.target
			tg.DialTimeout = 500 * time.Millisecond
			start := time.Now()
			c, err := sshx.Dial(context.Background(), tg)
			took := time.Since(start)
			if err == nil {
				_ = c.Close()
				t.Fatal("dial succeeded against a dead server")
			}
			if took < tt.minWait || took > 3*time.Second {
				t.Errorf("dial failed after %v (%v); want between %v and 3s", took, err, tt.minWait)
			}
			if st := fx.srv.Stats(); st.Conns != 1 || st.Handshakes != 0 {
				t.Errorf("stats %+v; want one connection, no handshake", st)
			}
			// Back to serving: the same client gets in.
			fx.srv.SetMode(sshtest.ModeServe)
			c, err = sshx.Dial(context.Background(), fx.target)
			if err != nil {
				t.Fatalf("dial after SetMode(ModeServe): %v", err)
			}
			_ = c.Close()
		})
	}
}

func TestRejectsOtherKeys(t *testing.T) {
	_, otherPub, err := sshx.GenerateEd25519("other")
	if err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t, sshtest.Config{AuthorizedKey: otherPub})
	_, err = sshx.Dial(context.Background(), fx.target)
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("dial with an unauthorized key: %v", err)
	}
	if st := fx.srv.Stats(); st.Conns != 1 || st.Handshakes != 0 {
		t.Errorf("stats %+v; want one connection, no completed handshake", st)
	}
}

// SetHostKey serves new connections with the new key, and only them.
func TestSetHostKeyServesNewConnections(t *testing.T) {
	fx := newFixture(t, sshtest.Config{})
	ctx := context.Background()
	before, err := sshx.Dial(ctx, fx.target)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = before.Close() }()
	newPEM, newPub, err := sshx.GenerateEd25519("new")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.srv.SetHostKey(newPEM); err != nil {
		t.Fatal(err)
	}
	if got := fx.srv.HostPublicKey(); got != strings.TrimSuffix(newPub, " new") {
		t.Errorf("HostPublicKey = %q, want %q", got, newPub)
	}
	// The pin is the old key: a new connection is refused.
	if c, err := sshx.Dial(ctx, fx.target); err == nil || !strings.Contains(err.Error(), "not the pinned one") {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("dial after SetHostKey with the old pin: %v", err)
	}
	// The connection made before keeps working.
	sess, err := before.NewSession()
	if err != nil {
		t.Fatalf("session on the connection made before SetHostKey: %v", err)
	}
	_ = sess.Close()
	if err := sshx.PinHostKey(fx.target.KnownHostsPath, fx.srv.Host(), fx.srv.Port(), newPub); err != nil {
		t.Fatal(err)
	}
	c, err := sshx.Dial(ctx, fx.target)
	if err != nil {
		t.Fatalf("dial with the new key pinned: %v", err)
	}
	_ = c.Close()
	if err := fx.srv.SetHostKey([]byte("not a key")); err == nil {
		t.Error("SetHostKey accepted garbage")
	}
}

func TestHandlerServesCommands(t *testing.T) {
	var got []sshtest.Exec
	fx := newFixture(t, sshtest.Config{Handler: func(_ context.Context, e sshtest.Exec) int {
		in, _ := io.ReadAll(e.Stdin)
		_, _ = fmt.Fprintf(e.Stdout, "ran %s with %q", e.Command, in)
		_, _ = io.WriteString(e.Stderr, "note")
		got = append(got, sshtest.Exec{Command: e.Command})
		return 3
	}})
	pool := sshx.NewPool()
	t.Cleanup(pool.Close)
	ex := &sshx.Executor{Pool: pool, Target: fx.target}
	res, err := ex.Run(context.Background(), "touch must-not-exist", core.RunOptions{Stdin: strings.NewReader("in")})
	if err != nil {
		t.Fatal(err)
	}
	want := core.RunResult{Stdout: `ran sh -c 'touch must-not-exist' with "in"`, Stderr: "note", ExitCode: 3}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("run (-want +got)\n%s", d)
	}
	if len(got) != 1 {
		t.Errorf("handler ran %d times, want 1", len(got))
	}
	if _, err := os.Stat("must-not-exist"); err == nil {
		t.Error("the handler server ran the command with sh")
	}
}

func TestHandlerContextEndsOnCancel(t *testing.T) {
	ended := make(chan struct{})
	fx := newFixture(t, sshtest.Config{Handler: func(ctx context.Context, _ sshtest.Exec) int {
		select {
		case <-ctx.Done():
			close(ended)
		case <-time.After(30 * time.Second):
		}
		return 1
	}})
	pool := sshx.NewPool()
	t.Cleanup(pool.Close)
	ex := &sshx.Executor{Pool: pool, Target: fx.target}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := ex.Run(ctx, "hang", core.RunOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("run of a hanging handler: %v, want DeadlineExceeded", err)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end after the client gave up")
	}
}

func TestDropConns(t *testing.T) {
	fx := newFixture(t, sshtest.Config{})
	fx.srv.DropConns(1, 3)
	for i, wantDrop := range []bool{true, false, true, false} {
		c, err := sshx.Dial(context.Background(), fx.target)
		if err == nil {
			_ = c.Close()
		}
		switch {
		case wantDrop && !errors.Is(err, sshx.ErrConnectionLost):
			t.Errorf("dial %d: %v; want it dropped (ErrConnectionLost)", i+1, err)
		case !wantDrop && err != nil:
			t.Errorf("dial %d: %v; want it served", i+1, err)
		}
	}
	// The server counts a handshake just after the client sees it done.
	st := fx.srv.Stats()
	for i := 0; i < 100 && st.Handshakes < 2; i++ {
		time.Sleep(10 * time.Millisecond)
		st = fx.srv.Stats()
	}
	if st.Conns != 4 || st.Handshakes != 2 || st.Dropped != 2 {
		t.Errorf("stats %+v; want 4 connections, 2 handshakes, 2 dropped", st)
	}
}

func TestDropExec(t *testing.T) {
	tests := []struct {
		name string
		at   sshtest.DropPoint
		// ran says whether the dropped command ran.
		ran bool
	}{
		{"before run", sshtest.BeforeRun, false},
		{"after run", sshtest.AfterRun, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			fx := newFixture(t, sshtest.Config{Dir: work})
			fx.srv.DropExec(tt.at, 2)
			pool := sshx.NewPool()
			t.Cleanup(pool.Close)
			ex := &sshx.Executor{Pool: pool, Target: fx.target}
			ctx := context.Background()
			for i, script := range []string{"touch one", "touch two", "touch three"} {
				_, err := ex.Run(ctx, script, core.RunOptions{})
				if dropped := i == 1; dropped != (err != nil) {
					t.Errorf("command %d: %v; want an error only for command 2", i+1, err)
				} else if dropped && !errors.Is(err, sshx.ErrConnectionLost) {
					t.Errorf("command 2: %v; want ErrConnectionLost", err)
				}
			}
			for name, want := range map[string]bool{"one": true, "two": tt.ran, "three": true} {
				_, err := os.Stat(filepath.Join(work, name))
				if got := err == nil; got != want {
					t.Errorf("file %s exists = %v, want %v", name, got, want)
				}
			}
			// The client redialled once after the drop.
			st := fx.srv.Stats()
			if st.Conns != 2 || st.Dropped != 1 || fx.srv.ExecRequests() != 3 {
				t.Errorf("stats %+v, %d exec requests; want 2 connections, 1 dropped, 3 requests", st, fx.srv.ExecRequests())
			}
		})
	}
}

func TestModeDropExecs(t *testing.T) {
	fx := newFixture(t, sshtest.Config{Mode: sshtest.ModeDropExecs})
	pool := sshx.NewPool()
	t.Cleanup(pool.Close)
	ex := &sshx.Executor{Pool: pool, Target: fx.target}
	for i := range 3 {
		if _, err := ex.Run(context.Background(), "true", core.RunOptions{}); !errors.Is(err, sshx.ErrConnectionLost) {
			t.Errorf("run %d: %v; want ErrConnectionLost", i+1, err)
		}
	}
	if st := fx.srv.Stats(); st.Conns != 3 || st.Handshakes != 3 || st.Execs != 0 || st.Dropped != 3 {
		t.Errorf("stats %+v; want 3 connections and handshakes, no exec, 3 dropped", st)
	}
}

func TestFreezeSilencesOpenConnections(t *testing.T) {
	fx := newFixture(t, sshtest.Config{})
	c, err := sshx.Dial(context.Background(), fx.target)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("keepalive before Freeze: %v", err)
	}
	fx.srv.Freeze()
	replied := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		replied <- err
	}()
	select {
	case err := <-replied:
		t.Fatalf("a frozen server answered a keepalive (%v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	// Close ends the freeze: the waiting request fails instead of hanging.
	fx.srv.Close()
	_ = c.Close()
	select {
	case err := <-replied:
		if err == nil {
			t.Error("the request got an answer from a closed, frozen server")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request still waits after the server and client closed")
	}
}
