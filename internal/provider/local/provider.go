// Package local is mngr's embedded default provider: one host, localhost,
// whose agents run in tmux on this machine.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// HostName is the name of the only local host.
const HostName = "localhost"

// Config is a [providers.NAME] block with backend = "local".
type Config struct {
	// HostDir is mngr's directory on this machine; empty means the default (~/.mngr).
	HostDir string `toml:"host_dir"`
}

// Backend returns the local backend, which has a default instance named "local".
func Backend() core.Backend {
	return core.Backend{
		Name:            "local",
		Description:     "agents in tmux on this machine",
		DefaultInstance: true,
		New:             newProvider,
		CheckSettings: func(s core.Settings) error {
			var cfg Config
			return s.Decode(&cfg)
		},
	}
}

func newProvider(_ context.Context, name string, s core.Settings, env core.Env) (core.Provider, error) {
	var cfg Config
	if s != nil {
		if err := s.Decode(&cfg); err != nil {
			return nil, err // it names providers.NAME.KEY and the file
		}
	}
	return New(name, cfg, env)
}

// Provider is a local provider instance.
type Provider struct {
	name    string
	hostDir string
	// prefix is the tmux session prefix of the host's agents.
	prefix string
}

var _ core.Provider = (*Provider)(nil)

// New builds a local provider. cfg.HostDir wins over env.HostDir; "~" is
// expanded with $HOME.
func New(name string, cfg Config, env core.Env) (*Provider, error) {
	dir := cfg.HostDir
	if dir == "" {
		dir = env.HostDir
	}
	if dir == "" {
		return nil, core.WithHint(fmt.Errorf("local provider %q: no host dir: %w", name, core.ErrInvalidInput),
			"set MNGR_HOST_DIR or host_dir in [providers.%s]", name)
	}
	if dir == "~" || strings.HasPrefix(dir, "~/") {
		home := ""
		if env.Getenv != nil {
			home = env.Getenv("HOME")
		}
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("expand host dir %q: %w", dir, err)
			}
			home = h
		}
		dir = filepath.Join(home, strings.TrimPrefix(dir, "~"))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve host dir %q: %w", dir, err)
	}
	return &Provider{name: name, hostDir: abs, prefix: env.Prefix}, nil
}

// Name is the provider instance name.
func (p *Provider) Name() string { return p.name }

// HostDir is mngr's directory on this machine.
func (p *Provider) HostDir() string { return p.hostDir }

// hostID reads <host_dir>/host_id, creating it (and the host dir) the first time.
func (p *Provider) hostID() (core.HostID, time.Time, error) {
	f := filepath.Join(p.hostDir, "host_id")
	b, err := readHostFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		if err := p.writeHostID(f); err != nil {
			return "", time.Time{}, err
		}
		b, err = readHostFile(f)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read host id: %w", err)
	}
	id, err := core.ParseHostID(strings.TrimSpace(string(b)))
	if err != nil {
		return "", time.Time{}, core.WithHint(fmt.Errorf("read %s: %w", f, err), "remove %s and mngr makes a new one", f)
	}
	var created time.Time
	if st, err := os.Stat(f); err == nil {
		created = st.ModTime().UTC()
	}
	return id, created, nil
}

// readHostFile reads a file of mngr's own under the configured host dir.
func readHostFile(p string) ([]byte, error) {
	return os.ReadFile(p) //nolint:gosec // G304: the path is mngr's own file under the configured host dir.
}

// writeHostID creates the host id file f with a fresh id unless another
// process made it first.
func (p *Provider) writeHostID(f string) error {
	if err := os.MkdirAll(p.hostDir, 0o700); err != nil {
		return fmt.Errorf("create host dir %q: %w", p.hostDir, err)
	}
	tmp, err := os.CreateTemp(p.hostDir, ".host_id-*")
	if err != nil {
		return fmt.Errorf("write host id: %w", core.DiskFull(err, p.hostDir))
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, werr := tmp.WriteString(string(core.NewHostID()) + "\n")
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return fmt.Errorf("write host id: %w", core.DiskFull(err, p.hostDir))
	}
	// Link, not rename: when two first runs race, the first id stays.
	if err := os.Link(tmp.Name(), f); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("write host id: %w", err)
	}
	return nil
}

func (p *Provider) labelsPath() string {
	return filepath.Join(p.hostDir, "providers", "local", "labels.json")
}

type label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (p *Provider) tags() (map[string]string, error) {
	tags := map[string]string{}
	b, err := readHostFile(p.labelsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return tags, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read local host tags: %w", err)
	}
	var ls []label
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("read local host tags %s: %w", p.labelsPath(), err)
	}
	for _, l := range ls {
		tags[l.Key] = l.Value
	}
	return tags, nil
}

// setHostTags replaces the local host's tags.
func (p *Provider) setHostTags(tags map[string]string) error {
	ls := make([]label, 0, len(tags))
	for k, v := range tags {
		ls = append(ls, label{Key: k, Value: v})
	}
	b, err := json.Marshal(ls)
	if err != nil {
		return fmt.Errorf("encode local host tags: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p.labelsPath()), 0o700); err != nil {
		return fmt.Errorf("write local host tags: %w", err)
	}
	if err := core.WriteFileAtomic(p.labelsPath(), b, 0o600); err != nil {
		return fmt.Errorf("write local host tags: %w", err)
	}
	return nil
}

func (p *Provider) discovered() (core.DiscoveredHost, error) {
	id, created, err := p.hostID()
	if err != nil {
		return core.DiscoveredHost{}, err
	}
	tags, err := p.tags()
	if err != nil {
		return core.DiscoveredHost{}, err
	}
	return core.DiscoveredHost{
		ID: id, Name: HostName, Provider: p.name, State: core.HostRunning,
		Tags: tags, CreatedAt: created,
	}, nil
}

func (p *Provider) host() (*core.Host, error) {
	d, err := p.discovered()
	if err != nil {
		return nil, err
	}
	return &core.Host{DiscoveredHost: d, HostDir: p.hostDir, SessionPrefix: p.prefix, Exec: Executor{}}, nil
}

func (p *Provider) checkID(id core.HostID) (core.HostID, error) {
	own, _, err := p.hostID()
	if err != nil {
		return "", err
	}
	if id != own && string(id) != HostName {
		return "", fmt.Errorf("host %q in provider %q: %w", id, p.name, core.ErrNotFound)
	}
	return own, nil
}

// CreateHost returns the local host; the only name it accepts is localhost.
// It checks that tmux is installed and records boot activity.
func (p *Provider) CreateHost(_ context.Context, req core.CreateHostRequest) (*core.Host, error) {
	if err := p.checkCreate(req); err != nil {
		return nil, err
	}
	h, err := p.host()
	if err != nil {
		return nil, err
	}
	if len(req.Tags) > 0 {
		tags := h.Tags
		for k, v := range req.Tags {
			tags[k] = v
		}
		if err := p.setHostTags(tags); err != nil {
			return nil, err
		}
	}
	act := filepath.Join(p.hostDir, "activity")
	if err := os.MkdirAll(act, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", act, err)
	}
	stamp := fmt.Sprintf("{\"time\":%d}", time.Now().UnixMilli())
	if err := os.WriteFile(filepath.Join(act, "boot"), []byte(stamp), 0o600); err != nil {
		return nil, fmt.Errorf("record boot activity: %w", err)
	}
	return h, nil
}

// checkCreate refuses what the local host cannot be: another name, a host
// that stops on idle, or one without tmux.
func (p *Provider) checkCreate(req core.CreateHostRequest) error {
	if req.Name != "" && req.Name != HostName {
		return core.WithHint(fmt.Errorf("local provider has one host, %q, not %q: %w", HostName, req.Name, core.ErrInvalidInput),
			"leave the host name out, or use another provider (--provider) for a new host")
	}
	if req.IdleTimeoutSeconds > 0 {
		return core.WithHint(fmt.Errorf("the local host never stops on idle: %w", core.ErrInvalidInput),
			"drop the idle flags for --provider %s", p.name)
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		return core.WithHint(fmt.Errorf("local agents need tmux: %w", core.ErrUnavailable), "install tmux (apt-get install tmux)")
	}
	return nil
}

var _ core.CreatePlanner = (*Provider)(nil)

// PlanCreateHost describes what CreateHost would do without doing it: the
// same checks, and no resource, since the one host is this machine. It
// writes nothing, not even the host id file a first create makes (the plan
// then carries no host id).
func (p *Provider) PlanCreateHost(_ context.Context, req core.CreateHostRequest) (*core.CreatePlan, error) {
	if err := p.checkCreate(req); err != nil {
		return nil, err
	}
	plan := &core.CreatePlan{
		Provider: p.name, HostName: HostName, Resources: []core.PlannedResource{},
		Notes: []string{fmt.Sprintf("the local provider makes no host: agents run in tmux on this machine, with their state under %s; no cost estimate applies", p.hostDir)},
	}
	b, err := readHostFile(filepath.Join(p.hostDir, "host_id"))
	switch {
	case err == nil:
		if id, perr := core.ParseHostID(strings.TrimSpace(string(b))); perr == nil {
			plan.HostID = id
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read host id: %w", err)
	}
	return plan, nil
}

// ListHosts returns the local host, always RUNNING; none while its host
// dir does not exist (no agent was ever made there), so a listing creates
// nothing.
func (p *Provider) ListHosts(_ context.Context) ([]core.DiscoveredHost, error) {
	if _, err := os.Stat(p.hostDir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	d, err := p.discovered()
	if err != nil {
		return nil, err
	}
	return []core.DiscoveredHost{d}, nil
}

// ConnectHost returns the local host for its id (or "localhost").
func (p *Provider) ConnectHost(_ context.Context, id core.HostID) (*core.Host, error) {
	if _, err := p.checkID(id); err != nil {
		return nil, err
	}
	return p.host()
}

// DestroyHost always fails: the local host cannot be destroyed.
func (p *Provider) DestroyHost(_ context.Context, id core.HostID) error {
	return core.WithHint(fmt.Errorf("destroy host %q: the local host cannot be destroyed: %w", id, core.ErrNotSupported),
		"destroy its agents instead: mngr destroy NAME")
}

var _ core.CapabilityDeclarer = (*Provider)(nil)

// Capabilities says that the one host is this machine; it is never stopped or
// destroyed with its agents.
func (p *Provider) Capabilities() core.Capabilities {
	return core.Capabilities{HostIsThisMachine: true, SharedHost: true}
}
