//go:build azsim

package azure

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/vps"
)

// requestsSince returns the request lines azsim logged after the first n.
func requestsSince(t *testing.T, dir string, n int) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "requests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if n > len(lines) {
		return nil
	}
	return lines[n:]
}

// A deallocated VM's agent is labelled, and the host renamed, through the
// VM's tags alone: the VM stays deallocated (no start request), a listing
// shows the new labels and name, and the container keeps the name it was
// made with (mngr-container).
func TestLabelAndRenameHostOfDeallocatedVM(t *testing.T) {
	e := newFaultEnv(t)
	c, dir := e.c, e.dir
	ctx := t.Context()
	if _, err := c.Prepare(ctx, PrepareOptions{RegistrationTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	p, err := vps.NewProvider(c, vps.Config{ProviderName: "azure", LocalHostDir: t.TempDir(), SkipHostSetup: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.CreateHost(ctx, core.CreateHostRequest{Name: "lab-host"})
	if err != nil {
		t.Fatal(err)
	}
	rec := core.AgentRecord{ID: core.NewAgentID(), Name: "ag", Type: "command", Command: "sleep 9", CreateTime: time.Now().UTC().Truncate(time.Second),
		Labels: map[string]string{"team": "a", "old": "x"}}
	if err := p.PersistAgent(ctx, h.ID, rec); err != nil {
		t.Fatal(err)
	}
	if err := p.StopHost(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	find := func() core.DiscoveredHost {
		t.Helper()
		hosts, err := p.ListHosts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, dh := range hosts {
			if dh.ID == h.ID {
				return dh
			}
		}
		t.Fatalf("host %s not listed", h.ID)
		return core.DiscoveredHost{}
	}
	dh := find()
	if dh.State != core.HostStopped || len(dh.Agents) != 1 {
		t.Fatalf("after stop: state %s, %d mirrored agents", dh.State, len(dh.Agents))
	}
	before := armCalls(t, dir)
	ref := core.AgentRef{ProviderName: "azure", Provider: p, Host: dh, Record: dh.Agents[0], State: core.AgentStopped}
	got, offline, err := core.LabelAgent(ctx, &ref, map[string]string{"team": "b", "owner": "me"}, []string{"old"})
	if err != nil || !offline {
		t.Fatalf("label offline: offline=%v err=%v", offline, err)
	}
	labelCalls := armCalls(t, dir) - before
	t.Logf("ARM requests to label an agent of a deallocated VM: %d", labelCalls)
	if labelCalls > 8 {
		t.Errorf("labelling made %d ARM requests, want at most 8 (one lookup, one tags merge)", labelCalls)
	}
	want := map[string]string{"team": "b", "owner": "me"}
	if !equalLabels(got.Labels, want) {
		t.Errorf("labels written = %v, want %v", got.Labels, want)
	}
	dh = find()
	if dh.State != core.HostStopped {
		t.Errorf("labelling changed the host's state to %s", dh.State)
	}
	if !equalLabels(dh.Agents[0].Labels, want) {
		t.Errorf("mirrored labels = %v, want %v", dh.Agents[0].Labels, want)
	}

	// The host: mngr-host-name re-stamped, the container name kept.
	if err := p.RenameHost(ctx, h.ID, "renamed-host"); err != nil {
		t.Fatalf("rename host: %v", err)
	}
	inst, err := c.GetInstance(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.HostName != "renamed-host" || inst.Tags[tagHostName] != "renamed-host" || inst.Status != vps.StatusStopped {
		t.Errorf("after rename: name %q, tag %q, status %s", inst.HostName, inst.Tags[tagHostName], inst.Status)
	}
	if inst.Tags[vps.TagContainerName] != "mngr-lab-host" {
		t.Errorf("container name tag = %q, want mngr-lab-host", inst.Tags[vps.TagContainerName])
	}
	if dh := find(); dh.Name != "renamed-host" || len(dh.Agents) != 1 || dh.Agents[0].Name != "ag" {
		t.Errorf("listing after rename: %q with %d agents", dh.Name, len(dh.Agents))
	}
	for _, line := range requestsSince(t, dir, before) {
		if strings.Contains(line, "/start") || strings.Contains(line, "/restart") {
			t.Errorf("labelling or renaming started the VM: %s", line)
		}
	}
	// A second rename to the same name changes nothing.
	mark := armCalls(t, dir)
	if err := p.RenameHost(ctx, h.ID, "renamed-host"); err != nil {
		t.Fatal(err)
	}
	for _, line := range requestsSince(t, dir, mark) {
		if strings.Contains(line, `"PATCH"`) || strings.Contains(line, "tags/default") && strings.Contains(line, "PUT") {
			t.Errorf("a rename to the same name wrote tags: %s", line)
		}
	}
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
