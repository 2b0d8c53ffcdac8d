package sshx_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
)

// TestConnectionLostMarksOnlyDrops checks which failures Run marks
// ErrConnectionLost (callers retry those when the command is safe to repeat):
// a refused port and dropped connections or sessions are; a wrong host key,
// a refused login, a silent server's timeout, a cancelled run and a command's
// own non-zero exit are not.
func TestConnectionLostMarksOnlyDrops(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	pub, err := sshx.EnsureKey(key, "client")
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, err := sshx.GenerateEd25519("other")
	if err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()

	tests := []struct {
		name string
		cfg  sshtest.Config
		// arrange sets the server's drops before the run.
		arrange func(*sshtest.Server)
		// pinOther pins a key the server does not have.
		pinOther bool
		// port, when set, is dialled instead of the server's.
		port int
		// timeout, when set, bounds the run's context.
		timeout  time.Duration
		script   string
		wantLost bool
		wantErr  bool
	}{
		{name: "refused port", port: closedPort, wantLost: true, wantErr: true},
		{name: "dropped before the banner", arrange: func(s *sshtest.Server) { s.DropConns(1) }, wantLost: true, wantErr: true},
		{name: "reset connection", cfg: sshtest.Config{Mode: sshtest.ModeReset}, wantLost: true, wantErr: true},
		{name: "session dropped before run", arrange: func(s *sshtest.Server) { s.DropExec(sshtest.BeforeRun, 1) }, wantLost: true, wantErr: true},
		{name: "session dropped after run", arrange: func(s *sshtest.Server) { s.DropExec(sshtest.AfterRun, 1) }, wantLost: true, wantErr: true},
		{name: "wrong host key", pinOther: true, wantErr: true},
		{name: "login refused", cfg: sshtest.Config{AuthorizedKey: otherPub}, wantErr: true},
		{name: "silent server", cfg: sshtest.Config{Mode: sshtest.ModeSilent}, timeout: 300 * time.Millisecond, wantErr: true},
		{name: "cancelled run", script: "sleep 30", timeout: 300 * time.Millisecond, wantErr: true},
		{name: "non-zero exit", script: "exit 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostPEM, _, err := sshx.GenerateEd25519("host")
			if err != nil {
				t.Fatal(err)
			}
			cfg := tt.cfg
			cfg.HostKeyPEM = hostPEM
			if cfg.AuthorizedKey == "" {
				cfg.AuthorizedKey = pub
			}
			srv := sshtest.MustStart(t, cfg)
			if tt.arrange != nil {
				tt.arrange(srv)
			}
			hostPub := srv.HostPublicKey()
			if tt.pinOther {
				hostPub = otherPub
			}
			port := srv.Port()
			if tt.port != 0 {
				port = tt.port
			}
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := sshx.PinHostKey(kh, srv.Host(), port, hostPub); err != nil {
				t.Fatal(err)
			}
			pool := sshx.NewPool()
			t.Cleanup(pool.Close)
			ex := &sshx.Executor{Pool: pool, Target: sshx.Target{Host: srv.Host(), Port: port, User: "root",
				KeyPath: key, KnownHostsPath: kh, DialTimeout: 2 * time.Second}}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			script := tt.script
			if script == "" {
				script = "true"
			}
			_, err = ex.Run(ctx, script, core.RunOptions{})
			if (err != nil) != tt.wantErr || errors.Is(err, sshx.ErrConnectionLost) != tt.wantLost {
				t.Errorf("Run = %v; want error %v, ErrConnectionLost %v", err, tt.wantErr, tt.wantLost)
			}
		})
	}
}
