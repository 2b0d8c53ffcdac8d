package sshtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
