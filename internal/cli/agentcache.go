package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

// agentCache remembers, for agents on remote hosts, the record and the ssh
// endpoint that git and rsync need, so `mngr git push` of a one-line change
// costs one git round and not a cloud listing first. It is only a hint: an
// entry is tried with a short connect timeout, and when the host does not
// answer as that agent's host (stopped, moved, another host at the address:
// each host has its own pinned key) the entry is dropped and the agent is
// looked up in the cloud as usual. File: <host_dir>/cache/agents.json.
type agentCache struct {
	path string
}

// cachedAgent is one remote agent as git and rsync reach it.
type cachedAgent struct {
	Provider string           `json:"provider"`
	HostName string           `json:"host_name"`
	Record   core.AgentRecord `json:"record"`
	Endpoint core.SSHEndpoint `json:"endpoint"`
	Saved    time.Time        `json:"saved"`
}

// cachedConnectTimeout bounds the connect to a cached endpoint, so a host
// that was stopped since costs seconds before the cloud lookup, not the
// usual 15.
const cachedConnectTimeout = 4

func newAgentCache(f *Factory) agentCache {
	return agentCache{path: filepath.Join(f.Env().HostDir, "cache", "agents.json")}
}

func (c agentCache) load() map[string]cachedAgent {
	out := map[string]cachedAgent{}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return out
	}
	if json.Unmarshal(b, &out) != nil {
		return map[string]cachedAgent{}
	}
	return out
}

// lookup finds the entry for an agent address (NAME or ID, optionally
// @HOST.PROVIDER).
func (c agentCache) lookup(addr string) (cachedAgent, bool) {
	a, err := parseAddress(addr, false)
	if err != nil {
		return cachedAgent{}, false
	}
	for _, e := range c.load() {
		if (e.Record.Name == a.Name || string(e.Record.ID) == a.Name) &&
			(a.Host == "" || e.HostName == a.Host) && (a.Provider == "" || e.Provider == a.Provider) {
			e.Endpoint.ConnectTimeoutSeconds = cachedConnectTimeout
			return e, true
		}
	}
	return cachedAgent{}, false
}

// edit rewrites the file with change applied; failures are ignored (the
// cache only saves time).
func (c agentCache) edit(change func(map[string]cachedAgent)) {
	m := c.load()
	change(m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return
	}
	if os.MkdirAll(filepath.Dir(c.path), 0o700) != nil {
		return
	}
	// A hint cache: a write that fails (a full disk) leaves the old one.
	_ = core.WriteFileAtomic(c.path, b, 0o600)
}

func (c agentCache) put(e cachedAgent) {
	e.Saved = time.Now().UTC()
	c.edit(func(m map[string]cachedAgent) { m[string(e.Record.ID)] = e })
}

func (c agentCache) drop(ids ...core.AgentID) {
	c.edit(func(m map[string]cachedAgent) {
		for _, id := range ids {
			delete(m, string(id))
		}
	})
}

// dropNames forgets the agents named (by name or id).
func (c agentCache) dropNames(names []string) {
	c.edit(func(m map[string]cachedAgent) {
		for k, e := range m {
			for _, n := range names {
				if e.Record.Name == n || string(e.Record.ID) == n {
					delete(m, k)
				}
			}
		}
	})
}

// unreachable says a git or rsync failure came from not reaching the
// agent's repository where the cache said it is (the connection, the host
// key, or a path that is not there), as opposed to git refusing the work.
func unreachable(err error) bool {
	var ge *core.GitError
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Tool == "rsync" && (ge.Code == 255 || ge.Code == 12 || ge.Code == 5) {
		return true
	}
	for _, s := range []string{"ssh: connect to host", "Connection refused", "Connection timed out", "No route to host",
		"Host key verification failed", "HOST IDENTIFICATION HAS CHANGED", "does not appear to be a git repository",
		"Could not read from remote repository", "Connection closed", "Permission denied"} {
		if strings.Contains(ge.Stderr, s) {
			return true
		}
	}
	return false
}

// reachAgentRepo runs op on the agent that addr names, for git and rsync:
// first over the endpoint cached for it; when that does not reach the
// agent's repository, over the one the cloud lookup finds (check, when
// set, runs on the record before a stopped host is started), which is then
// remembered. It returns the record op ran with.
func reachAgentRepo(ctx context.Context, f *Factory, addr string, start bool,
	check func(core.AgentRecord) error, op func(core.AgentRecord, core.AgentRepo) error) (core.AgentRecord, error) {
	cache := newAgentCache(f)
	if e, ok := cache.lookup(addr); ok {
		ep := e.Endpoint
		err := op(e.Record, core.AgentRepo{Agent: e.Record, Remote: &ep})
		if err == nil || !unreachable(err) {
			return e.Record, err
		}
		cache.drop(e.Record.ID)
	}
	ref, err := resolveAgentRecord(ctx, f, addr)
	if err != nil {
		return core.AgentRecord{}, err
	}
	if check != nil {
		if err := check(ref.Record); err != nil {
			return ref.Record, err
		}
	}
	ar, err := agentRepo(ctx, &ref, start)
	if err != nil {
		return ref.Record, err
	}
	if err := op(ref.Record, ar); err != nil {
		return ref.Record, err
	}
	if ar.Remote != nil {
		cache.put(cachedAgent{Provider: ref.ProviderName, HostName: ref.Host.Name, Record: ref.Record, Endpoint: *ar.Remote})
	}
	return ref.Record, nil
}
