package sshx

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
)

// keepAliveRig is an executor on an in-process SSH server, with keepalives
// every 100 ms and 3 misses allowed.
func keepAliveRig(t *testing.T) (*Executor, *sshtest.Server) {
	t.Helper()
	oldEvery, oldMisses := keepAliveEvery, keepAliveMisses
	keepAliveEvery, keepAliveMisses = 100*time.Millisecond, 3
	t.Cleanup(func() { keepAliveEvery, keepAliveMisses = oldEvery, oldMisses })
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	pub, err := EnsureKey(key, "client")
	if err != nil {
		t.Fatal(err)
	}
	hostPEM, _, err := GenerateEd25519("host")
	if err != nil {
		t.Fatal(err)
	}
	srv := sshtest.MustStart(t, sshtest.Config{HostKeyPEM: hostPEM, AuthorizedKey: pub})
	kh := filepath.Join(dir, "known_hosts")
	if err := PinHostKey(kh, srv.Host(), srv.Port(), srv.HostPublicKey()); err != nil {
		t.Fatal(err)
	}
	pool := NewPool()
	t.Cleanup(pool.Close)
	return &Executor{Pool: pool, Target: Target{Host: srv.Host(), Port: srv.Port(), User: "root",
		KeyPath: key, KnownHostsPath: kh, DialTimeout: 2 * time.Second}}, srv
}

func TestKeepAliveEndsACommandOnASilentConnection(t *testing.T) {
	ex, srv := keepAliveRig(t)
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := ex.Run(context.Background(), "sleep 30", core.RunOptions{})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond) // the command runs
	srv.Freeze()
	select {
	case err := <-errc:
		took := time.Since(start)
		if !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("Run on a silent connection = %v, want ErrConnectionLost", err)
		}
		// 3 unanswered keepalives 100 ms apart, each waited for 100 ms.
		if took > 3*time.Second {
			t.Errorf("Run took %v to notice the silence", took)
		}
		t.Logf("silent connection noticed after %v", took)
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting 10 s after its peer fell silent (the command would run 30 s)")
	}
}

func TestKeepAliveSparesABusyConnection(t *testing.T) {
	ex, _ := keepAliveRig(t)
	// sshd answers keepalives while a command runs: a command far longer
	// than 3 keepalive periods finishes normally.
	res, err := ex.Run(context.Background(), "sleep 1; echo done", core.RunOptions{})
	if err != nil || res.Stdout != "done\n" {
		t.Fatalf("Run = %+v, %v; want done", res, err)
	}
}

func TestPoolDoesNotHangOnASilentCachedConnection(t *testing.T) {
	ex, srv := keepAliveRig(t)
	keepAliveEvery = time.Hour // only the pool's own check is under test
	if _, err := ex.Run(context.Background(), "true", core.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Freeze()
	// The cached connection does not answer within staleCheck; the new
	// dial meets the same frozen server and its handshake times out.
	errc := make(chan error, 1)
	go func() {
		_, err := ex.Run(context.Background(), "true", core.RunOptions{})
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run on a frozen server succeeded")
		}
	case <-time.After(staleCheck + 5*time.Second):
		t.Fatal("Run hangs on a silent cached connection")
	}
}
