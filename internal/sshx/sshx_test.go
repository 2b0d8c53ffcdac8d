package sshx

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

func TestEnsureKeyCreatesOnceWithModes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "client_key")
	var wg sync.WaitGroup
	pubs := make([]string, 8)
	errs := make([]error, 8)
	for i := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pubs[i], errs[i] = EnsureKey(path, "c")
		}()
	}
	wg.Wait()
	for i := range pubs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if pubs[i] != pubs[0] {
			t.Fatalf("concurrent EnsureKey returned different keys: %q vs %q", pubs[i], pubs[0])
		}
	}
	if !strings.HasPrefix(pubs[0], "ssh-ed25519 ") || !strings.HasSuffix(pubs[0], " c") {
		t.Errorf("public key %q", pubs[0])
	}
	for f, mode := range map[string]os.FileMode{path: 0o600, path + ".pub": 0o644} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", f, st.Mode().Perm(), mode)
		}
	}
	if _, err := LoadSigner(path); err != nil {
		t.Errorf("LoadSigner: %v", err)
	}
	// A lost .pub is rebuilt from the private key.
	if err := os.Remove(path + ".pub"); err != nil {
		t.Fatal(err)
	}
	again, err := EnsureKey(path, "c")
	if err != nil || again != pubs[0] {
		t.Errorf("EnsureKey after losing .pub = %q, %v; want %q", again, err, pubs[0])
	}
}

func TestPinAndUnpinHostKey(t *testing.T) {
	_, k1, _ := GenerateEd25519("")
	_, k2, _ := GenerateEd25519("comment")
	f1 := strings.Fields(k1)
	f2 := strings.Fields(k2)
	tests := []struct {
		name    string
		initial string
		edit    func(file string) error
		want    string
	}{
		{"add to empty", "", func(f string) error { return PinHostKey(f, "10.0.0.1", 22, k1) },
			"10.0.0.1 " + f1[0] + " " + f1[1] + "\n"},
		{"port uses brackets", "", func(f string) error { return PinHostKey(f, "10.0.0.1", 2222, k1) },
			"[10.0.0.1]:2222 " + f1[0] + " " + f1[1] + "\n"},
		{"replace same host and type", "10.0.0.1 " + f1[0] + " " + f1[1] + "\nother ssh-rsa AAAA\n",
			func(f string) error { return PinHostKey(f, "10.0.0.1", 22, k2) },
			"other ssh-rsa AAAA\n10.0.0.1 " + f2[0] + " " + f2[1] + "\n"},
		{"exact line is a no-op", "10.0.0.1 " + f1[0] + " " + f1[1] + "\n10.0.0.10 x y\n",
			func(f string) error { return PinHostKey(f, "10.0.0.1", 22, k1) },
			"10.0.0.1 " + f1[0] + " " + f1[1] + "\n10.0.0.10 x y\n"},
		{"remove drops only that host", "10.0.0.1 a b\n10.0.0.10 c d\n[10.0.0.1]:2222 e f\n",
			func(f string) error { return UnpinHost(f, "10.0.0.1", 22) },
			"10.0.0.10 c d\n[10.0.0.1]:2222 e f\n"},
		{"remove port entry", "10.0.0.1 a b\n[10.0.0.1]:2222 e f\n",
			func(f string) error { return UnpinHost(f, "10.0.0.1", 2222) },
			"10.0.0.1 a b\n"},
		{"unpin a key drops it at every address", "10.0.0.1 " + f1[0] + " " + f1[1] + "\n[10.0.0.1]:2222 " + f2[0] + " " + f2[1] +
			"\n10.0.0.7 " + f1[0] + " " + f1[1] + "\n",
			func(f string) error { return UnpinKey(f, k1) },
			"[10.0.0.1]:2222 " + f2[0] + " " + f2[1] + "\n"},
		{"unpin a key ignores its comment and other keys", "10.0.0.1 " + f2[0] + " " + f2[1] + "\n10.0.0.2 " + f1[0] + " " + f1[1] + "x\n",
			func(f string) error { return UnpinKey(f, k2) },
			"10.0.0.2 " + f1[0] + " " + f1[1] + "x\n"},
		{"unpin a key that is not pinned is a no-op", "", func(f string) error { return UnpinKey(f, k1) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "known_hosts")
			if tt.initial != "" {
				if err := os.WriteFile(f, []byte(tt.initial), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.edit(f); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(f)
			if d := cmp.Diff(tt.want, string(got)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	if err := PinHostKey(filepath.Join(t.TempDir(), "kh"), "h", 22, "garbage"); err == nil {
		t.Error("PinHostKey accepted a malformed key")
	}
	if err := UnpinKey(filepath.Join(t.TempDir(), "kh"), "garbage"); err == nil {
		t.Error("UnpinKey accepted a malformed key")
	}
}

type fixture struct {
	srv  *testServer
	exec *Executor
	kh   string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	pub, err := EnsureKey(key, "client")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTestServer(t, pub)
	kh := filepath.Join(dir, "known_hosts")
	if err := PinHostKey(kh, srv.Host, srv.Port, srv.HostPub); err != nil {
		t.Fatal(err)
	}
	pool := NewPool()
	t.Cleanup(pool.Close)
	return fixture{srv: srv, kh: kh, exec: &Executor{Pool: pool, Target: Target{
		Host: srv.Host, Port: srv.Port, User: "root", KeyPath: key, KnownHostsPath: kh, DialTimeout: 5 * time.Second,
	}}}
}

func TestExecutorRun(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		script string
		stdin  string
		want   core.RunResult
	}{
		{"stdout", "echo hello", "", core.RunResult{Stdout: "hello\n"}},
		{"stderr and exit", "echo oops >&2; exit 3", "", core.RunResult{Stderr: "oops\n", ExitCode: 3}},
		{"stdin", "tr a-z A-Z", "shout", core.RunResult{Stdout: "SHOUT"}},
		{"quotes survive", `printf '%s|' "it's" "a \"b\""`, "", core.RunResult{Stdout: `it's|a "b"|`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts core.RunOptions
			if tt.stdin != "" {
				opts.Stdin = strings.NewReader(tt.stdin)
			}
			got, err := fx.exec.Run(ctx, tt.script, opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	var out bytes.Buffer
	if _, err := fx.exec.Run(ctx, "echo streamed", core.RunOptions{Stdout: &out}); err != nil || out.String() != "streamed\n" {
		t.Errorf("streamed stdout %q, %v", out.String(), err)
	}
	if err := fx.exec.WriteFile(ctx, filepath.Join(t.TempDir(), "d", "f.txt"), []byte("data 'x'\n"), 0o640); err != nil {
		t.Errorf("WriteFile: %v", err)
	}
}

func TestConnectionReused(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	c1, err := fx.exec.Pool.Client(ctx, fx.exec.Target)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := fx.exec.Pool.Client(ctx, fx.exec.Target)
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Error("pool dialed twice for the same target")
	}
	fx.exec.Pool.Forget(fx.srv.Host, fx.srv.Port)
	if res, err := fx.exec.Run(ctx, "echo ok", core.RunOptions{}); err != nil || res.Stdout != "ok\n" {
		t.Errorf("run after Forget = %+v, %v", res, err)
	}
}

func TestWrongHostKeyRefused(t *testing.T) {
	fx := newFixture(t)
	_, other, _ := GenerateEd25519("")
	if err := PinHostKey(fx.kh, fx.srv.Host, fx.srv.Port, other); err != nil {
		t.Fatal(err)
	}
	_, err := fx.exec.Run(context.Background(), "echo should-not-run", core.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "not the pinned one") {
		t.Fatalf("Run with a wrong pinned key = %v, want refusal", err)
	}
	// An empty known_hosts (nothing pinned) is refused as well: no TOFU.
	if err := os.WriteFile(fx.kh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(context.Background(), fx.exec.Target); err == nil {
		t.Fatal("Dial with nothing pinned succeeded")
	}
}

func TestWaitForSSH(t *testing.T) {
	fx := newFixture(t)
	if err := WaitForSSH(context.Background(), fx.srv.Addr, 5*time.Second); err != nil {
		t.Errorf("WaitForSSH on a live server: %v", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	start := time.Now()
	err = WaitForSSH(context.Background(), addr, time.Second)
	if err == nil || !errors.Is(err, core.ErrTimeout) || !strings.Contains(err.Error(), "SSH server not ready after 1s at "+addr) {
		t.Errorf("WaitForSSH on a closed port = %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("WaitForSSH took %v for a 1s budget", el)
	}
}

func TestInteractiveArgv(t *testing.T) {
	e := &Executor{Target: Target{Host: "10.1.2.3", Port: 2222, User: "root", KeyPath: "/k/id", KnownHostsPath: "/k/kh"}}
	want := []string{"ssh", "-t", "-i", "/k/id", "-p", "2222", "-o", "UserKnownHostsFile=/k/kh",
		"-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
		"-o", "ForwardAgent=no", "-o", "ForwardX11=no", "-o", "ClearAllForwardings=yes",
		"root@10.1.2.3", "sh -c 'tmux attach -t =x'"}
	if d := cmp.Diff(want, e.InteractiveArgv("tmux attach -t =x")); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

// TestOpenSSHClientAcceptsPinnedFiles runs the real ssh client with the
// argv InteractiveArgv builds (minus -t: the test server has no pty), so the
// key and known_hosts files are proven compatible with OpenSSH.
func TestOpenSSHClientAcceptsPinnedFiles(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		testenv.Missing(t, "openssh client not installed")
	}
	fx := newFixture(t)
	argv := fx.exec.InteractiveArgv(`echo "hi from $0"`)
	args := append([]string{"-o", "BatchMode=yes"}, argv[2:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %v: %v\n%s", args, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "hi from sh" {
		t.Errorf("ssh output %q", got)
	}
	// The same client refuses the server once another key is pinned.
	_, other, _ := GenerateEd25519("")
	if err := PinHostKey(fx.kh, fx.srv.Host, fx.srv.Port, other); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput(); err == nil {
		t.Errorf("ssh accepted a server whose key is not pinned:\n%s", out)
	}
}

func TestPoolConcurrentCallersShareOneClient(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := fx.exec.Run(ctx, "echo ok", core.RunOptions{})
			if err == nil && res.Stdout != "ok\n" {
				err = errors.New("unexpected output " + res.Stdout)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	fx.exec.Pool.mu.Lock()
	n := len(fx.exec.Pool.clients)
	fx.exec.Pool.mu.Unlock()
	if n != 1 {
		t.Errorf("pool holds %d clients for one target", n)
	}
}
