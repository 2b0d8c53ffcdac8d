package cli

import (
	"context"
	"io/fs"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
)

// planningCloud plans creates and fails the test if anything creates.
type planningCloud struct {
	t    *testing.T
	reqs []core.CreateHostRequest
}

var _ core.CreatePlanner = (*planningCloud)(nil)

func (c *planningCloud) Name() string { return "plancloud" }
func (c *planningCloud) CreateHost(context.Context, core.CreateHostRequest) (*core.Host, error) {
	c.t.Error("a dry run created a host")
	return nil, core.ErrNotSupported
}
func (c *planningCloud) ListHosts(context.Context) ([]core.DiscoveredHost, error) { return nil, nil }
func (c *planningCloud) ConnectHost(context.Context, core.HostID) (*core.Host, error) {
	return nil, core.ErrNotFound
}
func (c *planningCloud) DestroyHost(context.Context, core.HostID) error { return nil }
func (c *planningCloud) PlanCreateHost(_ context.Context, req core.CreateHostRequest) (*core.CreatePlan, error) {
	c.reqs = append(c.reqs, req)
	usd := 0.096
	return &core.CreatePlan{
		Provider: "plancloud", HostName: req.Name,
		Resources: []core.PlannedResource{
			{Type: "Microsoft.Network/networkInterfaces", Name: "nic1", Region: "eastus", Tags: map[string]string{"managed-by": "mngr", "b": "2"}},
			{Type: "Microsoft.Compute/virtualMachines", Name: "vm1", Region: "eastus", Size: "Standard_D2s_v5", Spot: true},
		},
		UserData: "#cloud-config\nruncmd: []\n", Estimate: "estimate $0.0960/hour (prices as of test)", HourlyUSD: &usd,
		Notes: []string{"note one"},
	}, nil
}

func newDryRunEnv(t *testing.T) (*testEnv, *planningCloud) {
	te := newTestEnv(t)
	pc := &planningCloud{t: t}
	te.reg.Register(core.Backend{Name: "plancloud", DefaultInstance: true, New: func(context.Context, string, core.Settings, core.Env) (core.Provider, error) {
		return pc, nil
	}})
	te.reset()
	return te, pc
}

// filesUnder lists every path under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestCreateDryRunHuman(t *testing.T) {
	te, pc := newDryRunEnv(t)
	before := filesUnder(t, te.env["HOME"])
	out := te.mustRun("create", "w1", "command", "--provider", "plancloud", "-b", "--azure-vm-size=A,B", "--dry-run", "--", "true")
	want := `Dry run: nothing was created. Agent w1 on host w1-host [plancloud] would need:
  Microsoft.Network/networkInterfaces      nic1 (region eastus)
  Microsoft.Compute/virtualMachines        vm1 (region eastus, size Standard_D2s_v5, spot)
Tags: b=2, managed-by=mngr
Price: estimate $0.0960/hour (prices as of test)
Note: note one
Cloud-init user data: 2 lines (print them with --show-cloud-init)
`
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("stdout (-want +got)\n%s", d)
	}
	out = te.mustRun("create", "w1", "command", "--provider", "plancloud", "-b", "--azure-vm-size=A,B", "--dry-run", "--show-cloud-init", "--", "true")
	if !strings.HasSuffix(out, "Note: note one\nCloud-init user data:\n#cloud-config\nruncmd: []\n") {
		t.Errorf("--show-cloud-init: stdout %q", out)
	}
	if len(pc.reqs) != 2 || pc.reqs[0].Name != "w1-host" || strings.Join(pc.reqs[0].BuildArgs, " ") != "--azure-vm-size=A,B" {
		t.Errorf("plan requests %+v", pc.reqs)
	}
	if d := cmp.Diff(before, filesUnder(t, te.env["HOME"])); d != "" {
		t.Errorf("dry run changed files under HOME (-before +after)\n%s", d)
	}
}

func TestCreateDryRunJSON(t *testing.T) {
	te, _ := newDryRunEnv(t)
	te.mustRun("create", "w1", "command", "--provider", "plancloud", "--dry-run", "--format", "json", "--", "true")
	var got core.CreatePlan
	te.jsonOut(&got)
	if got.HostName != "w1-host" || len(got.Resources) != 2 || got.Resources[1].Size != "Standard_D2s_v5" || !got.Resources[1].Spot ||
		got.HourlyUSD == nil || *got.HourlyUSD != 0.096 || !strings.HasPrefix(got.UserData, "#cloud-config") || te.errOut.Len() != 0 {
		t.Errorf("plan %+v, stderr %q", got, te.errOut)
	}
}

func TestCreateDryRunLocalCreatesNothing(t *testing.T) {
	te := newTestEnv(t)
	before := filesUnder(t, te.env["HOME"])
	out := te.mustRun("create", "w1", "command", "--dry-run", "--", "sleep", "100")
	if !strings.Contains(out, "tmux session") || !strings.Contains(out, te.env["MNGR_PREFIX"]+"w1") || !strings.Contains(out, "the local provider makes no host") {
		t.Errorf("stdout %q", out)
	}
	if d := cmp.Diff(before, filesUnder(t, te.env["HOME"])); d != "" {
		t.Errorf("dry run changed files under HOME (-before +after)\n%s", d)
	}
	if sessions, err := exec.CommandContext(t.Context(), "tmux", "list-sessions", "-F", "#{session_name}").Output(); err == nil && strings.Contains(string(sessions), te.env["MNGR_PREFIX"]) {
		t.Errorf("a dry run started a tmux session: %s", sessions)
	}
}

func TestCreateDryRunRefusals(t *testing.T) {
	te, _ := newDryRunEnv(t)
	if code := te.run("create", "w1", "command", "--provider", "fakecloud", "--dry-run", "--", "true"); code == 0 || !strings.Contains(te.errOut.String(), "cannot show a create without making it") {
		t.Errorf("provider without a planner: exit %d, stderr %q", code, te.errOut)
	}
	if len(te.cloud.requests) != 0 {
		t.Errorf("fakecloud was asked to create %v", te.cloud.requests)
	}
	if code := te.run("create", "w1", "command", "--provider", "plancloud", "--host", "box", "--dry-run", "--", "true"); code == 0 || !strings.Contains(te.errOut.String(), "--dry-run plans a new host") {
		t.Errorf("--host: exit %d, stderr %q", code, te.errOut)
	}
}

func TestCreateHasExamples(t *testing.T) {
	cmd := newCmdCreate(newTestEnv(t).f, nil)
	for _, want := range []string{"--dry-run", "--azure-vm-size=Standard_D2s_v5,", "--format json"} {
		if !strings.Contains(cmd.Example, want) {
			t.Errorf("Example lacks %q", want)
		}
	}
}
