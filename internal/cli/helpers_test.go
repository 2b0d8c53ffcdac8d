package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/provider/local"
	"github.com/mngr-azure/mngr/internal/testenv"
)

// testEnv is a hermetic mngr: its own HOME, host dir and tmux prefix.
type testEnv struct {
	t      *testing.T
	f      *Factory
	out    *bytes.Buffer
	errOut *bytes.Buffer
	env    map[string]string
	cloud  *fakeCloud
	reg    *core.Registry
	// cwd is the directory mngr runs in.
	cwd string
	// transferNone makes create run agents in place unless --transfer says
	// otherwise (-S commands.create.transfer=none), for the tests of other
	// things; the transfer tests clear it to get create's own default.
	transferNone bool
}

func requireTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed; the agent layer needs it")
	}
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	isolateTmux(t)
	home := t.TempDir()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "mngrclitest-" + hex.EncodeToString(b[:]) + "-"
	te := &testEnv{t: t, out: &bytes.Buffer{}, errOut: &bytes.Buffer{}, env: map[string]string{
		"HOME": home, "MNGR_HOST_DIR": filepath.Join(home, ".mngr"), "MNGR_PREFIX": prefix,
	}, transferNone: true}
	te.cwd = filepath.Join(home, "cwd")
	if err := os.MkdirAll(te.cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	te.cloud = &fakeCloud{root: filepath.Join(home, "cloud"), prefix: prefix, hosts: map[core.HostID]*fakeHost{}}
	te.reg = &core.Registry{}
	te.reg.Register(local.Backend())
	te.reg.Register(core.Backend{Name: "fakecloud", DefaultInstance: true, New: func(context.Context, string, core.Settings, core.Env) (core.Provider, error) {
		return te.cloud, nil
	}})
	te.reset()
	t.Cleanup(func() { killSessions(prefix) })
	return te
}

// reset builds a fresh Factory (a new invocation) over the same home.
func (te *testEnv) reset() {
	te.out.Reset()
	te.errOut.Reset()
	ios := &IOStreams{In: strings.NewReader(""), Out: te.out, ErrOut: te.errOut}
	te.f = NewFactory(te.reg, ios, func(k string) string { return te.env[k] })
	te.f.Getwd = func() (string, error) { return te.cwd, nil }
}

// run runs one mngr invocation and returns its exit code.
func (te *testEnv) run(args ...string) ExitCode {
	te.t.Helper()
	te.reset()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if te.transferNone && len(args) > 0 && args[0] == "create" {
		args = append([]string{"-S", "commands.create.transfer=none"}, args...)
	}
	return Run(ctx, te.f, args)
}

func (te *testEnv) mustRun(args ...string) string {
	te.t.Helper()
	if code := te.run(args...); code != 0 {
		te.t.Fatalf("mngr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, te.out, te.errOut)
	}
	return te.out.String()
}

func (te *testEnv) jsonOut(v any) {
	te.t.Helper()
	if err := json.Unmarshal(te.out.Bytes(), v); err != nil {
		te.t.Fatalf("stdout is not json: %v\n%s", err, te.out)
	}
}

func killSessions(prefix string) {
	out, err := exec.CommandContext(context.Background(), "tmux", "list-sessions", "-F", "#{session_name}").Output()
	if err != nil {
		return
	}
	for _, s := range strings.Fields(string(out)) {
		if strings.HasPrefix(s, prefix) {
			_ = exec.CommandContext(context.Background(), "tmux", "kill-session", "-t", "="+s).Run()
		}
	}
}

// fakeCloud is a provider whose hosts are directories on this machine run
// through the local shell; it can stop hosts, persist agents and collect
// garbage, and records what was asked of it.
type fakeCloud struct {
	mu        sync.Mutex
	root      string
	prefix    string
	hosts     map[core.HostID]*fakeHost
	requests  []core.CreateHostRequest
	stopped   []core.HostID
	destroyed []core.HostID
	gcCalls   []bool
	listErr   error
	// remote makes its hosts count as remote ones (core.Host.Remote), as
	// a VM's are: a claude agent then gets its own config dir.
	remote bool
}

type fakeHost struct {
	dh      core.DiscoveredHost
	dir     string
	running bool
	// poweredOff is a host shut down from inside: offline but billing.
	poweredOff bool
	agents     map[core.AgentID]core.AgentRecord
}

var (
	_ core.Provider         = (*fakeCloud)(nil)
	_ core.HostStopper      = (*fakeCloud)(nil)
	_ core.AgentPersister   = (*fakeCloud)(nil)
	_ core.GarbageCollector = (*fakeCloud)(nil)
)

func (c *fakeCloud) Name() string { return "fakecloud" }

func (c *fakeCloud) CreateHost(_ context.Context, req core.CreateHostRequest) (*core.Host, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, req)
	id := core.NewHostID()
	h := &fakeHost{dh: core.DiscoveredHost{ID: id, Name: req.Name, Provider: "fakecloud", State: core.HostRunning, Tags: map[string]string{}},
		dir: filepath.Join(c.root, string(id)), running: true, agents: map[core.AgentID]core.AgentRecord{}}
	if err := os.MkdirAll(h.dir, 0o750); err != nil {
		return nil, err
	}
	c.hosts[id] = h
	return c.online(h), nil
}

func (c *fakeCloud) online(h *fakeHost) *core.Host {
	dh := h.dh
	dh.State = core.HostRunning
	return &core.Host{DiscoveredHost: dh, HostDir: h.dir, SessionPrefix: c.prefix, Exec: local.Executor{}, Remote: c.remote}
}

func (c *fakeCloud) ListHosts(context.Context) ([]core.DiscoveredHost, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listErr != nil {
		return nil, c.listErr
	}
	var out []core.DiscoveredHost
	for _, h := range c.hosts {
		dh := h.dh
		dh.State = core.HostRunning
		if !h.running {
			dh.State = core.HostStopped
			if h.poweredOff {
				dh.State = core.HostStoppedBilling
			}
			for _, r := range h.agents {
				dh.Agents = append(dh.Agents, r)
			}
		}
		out = append(out, dh)
	}
	return out, nil
}

func (c *fakeCloud) ConnectHost(_ context.Context, id core.HostID) (*core.Host, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hosts[id]
	if !ok {
		return nil, fmt.Errorf("host %s: %w", id, core.ErrNotFound)
	}
	if !h.running {
		return nil, fmt.Errorf("host %s: %w", id, core.ErrHostOffline)
	}
	return c.online(h), nil
}

func (c *fakeCloud) DestroyHost(_ context.Context, id core.HostID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.hosts[id]; ok {
		_ = os.RemoveAll(h.dir)
	}
	delete(c.hosts, id)
	c.destroyed = append(c.destroyed, id)
	return nil
}

func (c *fakeCloud) StopHost(_ context.Context, id core.HostID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hosts[id].running = false
	c.hosts[id].poweredOff = false
	c.stopped = append(c.stopped, id)
	return nil
}

func (c *fakeCloud) StartHost(_ context.Context, id core.HostID) (*core.Host, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hosts[id].running = true
	return c.online(c.hosts[id]), nil
}

func (c *fakeCloud) PersistAgent(_ context.Context, host core.HostID, rec core.AgentRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hosts[host].agents[rec.ID] = rec
	return nil
}

func (c *fakeCloud) RemovePersistedAgent(_ context.Context, host core.HostID, agent core.AgentID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.hosts[host]; ok {
		delete(h.agents, agent)
	}
	return nil
}

func (c *fakeCloud) CollectGarbage(_ context.Context, dryRun bool) ([]core.GCItem, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gcCalls = append(c.gcCalls, dryRun)
	return []core.GCItem{{Kind: "public_ip", Name: "leaked-ip", ID: "ip-1", Reason: "no VM", Done: !dryRun}}, nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// isolateTmux gives the test its own tmux server (TMUX_TMPDIR) and a bare
// HOME, so agent shells never read the developer's shell start-up files
// (which can take seconds) and no session leaks into a shared server. The
// server is killed when the test ends.
func isolateTmux(t *testing.T) {
	t.Helper()
	dir, err := os.MkdirTemp("", "mngr-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMUX_TMPDIR", dir)
	t.Setenv("TMUX", "")
	t.Setenv("HOME", dir)
	t.Cleanup(func() {
		_ = exec.CommandContext(context.Background(), "tmux", "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
}
