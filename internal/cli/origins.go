package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/mngr-azure/mngr/internal/core"
)

// agentOrigins is what this machine recorded when it created each agent:
// the project it came from, its branch and its work dir. A remote host's
// record of an agent is written by a machine the agent runs on as root, so
// local actions (deleting or pushing a branch, picking the repository) read
// these fields from here, and the host's copy only where this machine has
// none. File: <host_dir>/origins.json (0600).
type agentOrigins struct {
	path string
}

// agentOrigin is one agent's fields as this machine created it.
type agentOrigin struct {
	Name              string            `json:"name"`
	Provider          string            `json:"provider"`
	SourcePath        string            `json:"source_path,omitempty"`
	CreatedBranchName string            `json:"created_branch_name,omitempty"`
	BaseBranch        string            `json:"base_branch,omitempty"`
	WorkDir           string            `json:"work_dir,omitempty"`
	Transfer          core.TransferMode `json:"transfer,omitempty"`
	Created           time.Time         `json:"created"`
}

func newAgentOrigins(f *Factory) agentOrigins {
	return agentOrigins{path: filepath.Join(f.Env().HostDir, "origins.json")}
}

func (o agentOrigins) load() map[core.AgentID]agentOrigin {
	out := map[core.AgentID]agentOrigin{}
	b, err := os.ReadFile(o.path)
	if err != nil || json.Unmarshal(b, &out) != nil {
		return map[core.AgentID]agentOrigin{}
	}
	return out
}

// put records a new agent; a failure is a warning, not a failed create.
func (o agentOrigins) put(ctx context.Context, provider string, rec core.AgentRecord) {
	err := o.edit(func(m map[core.AgentID]agentOrigin) bool {
		m[rec.ID] = agentOrigin{Name: rec.Name, Provider: provider, SourcePath: rec.SourcePath, CreatedBranchName: rec.CreatedBranchName,
			BaseBranch: rec.BaseBranch, WorkDir: rec.WorkDir, Transfer: rec.Transfer, Created: time.Now().UTC()}
		return true
	})
	if err != nil {
		core.ProgressFrom(ctx).Warn(fmt.Sprintf("could not record agent %s on this machine (%v); mngr will not delete or push its branch by the host's record", rec.Name, err))
	}
}

// drop forgets destroyed agents.
func (o agentOrigins) drop(ids []core.AgentID) {
	_ = o.edit(func(m map[core.AgentID]agentOrigin) bool {
		n := len(m)
		for _, id := range ids {
			delete(m, id)
		}
		return len(m) != n
	})
}

// edit reads the file, applies change and writes the result when change
// reports one, all under an exclusive lock on a sidecar file, so creates
// and destroys running side by side do not lose each other's entries.
func (o agentOrigins) edit(change func(map[core.AgentID]agentOrigin) bool) error {
	if err := os.MkdirAll(filepath.Dir(o.path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(o.path), err)
	}
	lock := flock.New(o.path + ".lock")
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("lock %s: %w", o.path, err)
	}
	defer func() { _ = lock.Unlock() }()
	m := o.load()
	if !change(m) {
		return nil
	}
	return o.save(m)
}

func (o agentOrigins) save(m map[core.AgentID]agentOrigin) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", o.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(o.path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(o.path), err)
	}
	return core.WriteFileAtomic(o.path, b, 0o600)
}

// localTruth returns rec with the fields local actions use replaced by what
// this machine recorded at create, and the names of the fields the host's
// record had changed; known is false when this machine has no record of
// the agent.
func (o agentOrigins) localTruth(rec core.AgentRecord) (out core.AgentRecord, changed []string, known bool) {
	orig, ok := o.load()[rec.ID]
	if !ok {
		return rec, nil, false
	}
	for _, f := range []struct {
		name       string
		host, mine *string
	}{
		{"source_path", &rec.SourcePath, &orig.SourcePath},
		{"created_branch_name", &rec.CreatedBranchName, &orig.CreatedBranchName},
		{"base_branch", &rec.BaseBranch, &orig.BaseBranch},
		{"work_dir", &rec.WorkDir, &orig.WorkDir},
	} {
		if *f.host != *f.mine {
			changed = append(changed, f.name)
			*f.host = *f.mine
		}
	}
	if rec.Transfer != orig.Transfer {
		changed = append(changed, "transfer")
		rec.Transfer = orig.Transfer
	}
	sort.Strings(changed)
	return rec, changed, true
}

// trustedForLocalAction is the record a local action on agent rec may use:
// this machine's own fields when it created the agent (a host record that
// differs is named in a warning), the record itself when its host is this
// machine, and otherwise the host's record with its source path dropped and
// its branch name checked, so it can neither name another repository nor
// smuggle an option into git.
func trustedForLocalAction(ctx context.Context, f *Factory, rec core.AgentRecord, hostIsThisMachine bool) (core.AgentRecord, error) {
	out, changed, known := newAgentOrigins(f).localTruth(rec)
	if known {
		if len(changed) > 0 {
			core.ProgressFrom(ctx).Warn(fmt.Sprintf("the host's record of agent %s changed %s since this machine created it; using this machine's",
				core.Printable(rec.Name), strings.Join(changed, ", ")))
		}
		return out, nil
	}
	if hostIsThisMachine {
		return rec, nil
	}
	rec.SourcePath = ""
	if rec.CreatedBranchName != "" {
		if err := core.CheckBranchName(rec.CreatedBranchName); err != nil {
			return rec, fmt.Errorf("agent %s: the host's record names branch %s: %w", core.Printable(rec.Name), core.Printable(rec.CreatedBranchName), err)
		}
	}
	return rec, nil
}
