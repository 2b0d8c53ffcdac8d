package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/mngr-azure/mngr/internal/core"
)

// runIn runs one mngr invocation with stdin.
func (te *testEnv) runIn(stdin string, args ...string) ExitCode {
	te.t.Helper()
	te.reset()
	te.f.IO.In = strings.NewReader(stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return Run(ctx, te.f, args)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestReadNames(t *testing.T) {
	tests := []struct {
		name, in string
		args     []string
		want     []string
		wantErr  string
	}{
		{"ids and comments", "agent-a\n\n# a comment\n  agent-b  \n", []string{"-"}, []string{"agent-a", "agent-b"}, ""},
		{"in place of the dash", "x\ny\n", []string{"first", "-", "last"}, []string{"first", "x", "y", "last"}, ""},
		{"no dash: stdin unread", "x\n", []string{"a"}, []string{"a"}, ""},
		{"addresses", "a@h.azure\n", []string{"-"}, []string{"a@h.azure"}, ""},
		{"empty stdin", "\n# nothing\n", []string{"-"}, nil, "read no agent name"},
		{"empty stdin beside a name", "", []string{"a", "-"}, []string{"a"}, ""},
		{"two dashes", "a\n", []string{"-", "-"}, nil, "given twice"},
		{"a line of two words", "a b\n", []string{"-"}, nil, "not one agent name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := &cobra.Command{Use: "stop"}
			cmd.SetIn(strings.NewReader(tt.in))
			got, err := namesFromArgs(cmd, tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !isUsageError(err) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// fixedRef is an agent for the pure query tests.
func fixedRef(name string, created time.Time, labels map[string]string, state core.AgentState, last *time.Time) agentRef {
	return agentRef{ProviderName: "local", Host: core.DiscoveredHost{ID: "host-1", Name: "localhost", State: core.HostRunning},
		Record: core.AgentRecord{ID: core.AgentID("agent-" + name), Name: name, Type: "command", CreateTime: created, Labels: labels},
		State:  state, LastActivity: last}
}

func TestListQuerySortAndFilter(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	refs := []agentRef{
		fixedRef("a", now.Add(-3*time.Hour), map[string]string{"n": "10", "team": "a"}, core.AgentRunning, ago(2*time.Minute)),
		fixedRef("b", now.Add(-1*time.Hour), map[string]string{"n": "9", "team": "a"}, core.AgentWaiting, ago(10*time.Second)),
		fixedRef("c", now.Add(-2*time.Hour), map[string]string{"n": "100"}, core.AgentStopped, nil),
	}
	local := func(agentRef) bool { return true }
	tests := []struct {
		name string
		o    listQueryOptions
		want []string
	}{
		{"default: create_time", listQueryOptions{}, []string{"a", "c", "b"}},
		{"numbers as numbers", listQueryOptions{Sort: "int(labels.n)"}, []string{"b", "a", "c"}},
		{"desc", listQueryOptions{Sort: "int(labels.n) desc"}, []string{"c", "a", "b"}},
		{"two keys", listQueryOptions{Sort: "project asc, name desc"}, []string{"c", "b", "a"}},
		{"unknown values last both ways", listQueryOptions{Sort: "idle desc"}, []string{"a", "b", "c"}},
		{"include with idle", listQueryOptions{Include: []string{`labels.team == "a" && idle > duration("1m")`}}, []string{"a"}},
		{"missing label does not match", listQueryOptions{Include: []string{`labels.team != "b"`}}, []string{"a", "b"}},
		{"exclude", listQueryOptions{Exclude: []string{`name == "a"`}}, []string{"c", "b"}},
		{"shorthands", listQueryOptions{Running: true, Labels: []string{"team=a"}}, []string{"a", "b"}},
		{"stopped", listQueryOptions{Stopped: true}, []string{"c"}},
		{"age", listQueryOptions{Include: []string{`age > duration("90m")`}}, []string{"a", "c"}},
		{"limit", listQueryOptions{Sort: "name", Limit: 2}, []string{"a", "b"}},
		{"remote", listQueryOptions{Remote: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.isLocal = local
			q, err := newListQuery(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range q.apply(refs, now) {
				got = append(got, a.details.Name)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// Every bad value of a list flag is one Error line naming it, a hint, and
// exit 2, before any provider is asked.
func TestListBadInput(t *testing.T) {
	te := newTestEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--include", `name ==`}, "--include \"name ==\": column"},
		{[]string{"--include", `nosuch == 1`}, "undeclared reference to 'nosuch'"},
		{[]string{"--exclude", `name`}, "not true or false"},
		{[]string{"--include", ""}, "empty expression"},
		{[]string{"--sort", "name (", "--ids"}, "--sort"},
		{[]string{"--fields", "name,nope"}, `unknown field "nope"`},
		{[]string{"--fields", "labels"}, `unknown field "labels"`},
		{[]string{"--fields", "host.tags"}, `unknown field "host.tags"`},
		{[]string{"--limit", "-1"}, "--limit -1"},
		{[]string{"--limit", "x"}, "invalid argument"},
		{[]string{"--running", "--stopped"}, "exclude each other"},
		{[]string{"--local", "--remote"}, "exclude each other"},
		{[]string{"--ids", "--addrs"}, "exclude each other"},
		{[]string{"--ids", "--fields", "name"}, "--fields does not go"},
		{[]string{"--label", "team"}, "invalid --label"},
		{[]string{"--hosts", "--running"}, "--hosts lists hosts"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code := te.run(append([]string{"list"}, tt.args...)...)
			stderr := te.errOut.String()
			if code != ExitUsage || !strings.Contains(stderr, tt.want) || !strings.HasPrefix(stderr, "Error: ") {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tt.want)
			}
			if first := strings.SplitN(stderr, "\n", 2)[0]; strings.Contains(tt.want, "column") && strings.Count(first, "column") != 1 {
				t.Errorf("the CEL error is not on one line: %q", stderr)
			}
			if tt.want == "undeclared reference to 'nosuch'" && !strings.Contains(stderr, "labels.KEY") {
				t.Errorf("no hint listing the fields: %q", stderr)
			}
		})
	}
}

// The verbs that take names: bad input of their own flags is exit 2.
func TestLabelRenameBadInput(t *testing.T) {
	te := newTestEnv(t)
	tests := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"label", "x"}, "label needs -l K=V or --remove K"},
		{"", []string{"label", "x", "-l", "novalue"}, "invalid --label"},
		{"", []string{"label", "x", "-l", "a/b=1"}, "Azure tags refuse"},
		{"", []string{"label", "x", "-l", "k=" + strings.Repeat("v", 257)}, "longer than 256"},
		{"", []string{"label", "x", "-l", strings.Repeat("k", 129) + "=v"}, "longer than 128"},
		{"", []string{"label", "x", "-l", "k=v", "--remove", "k"}, "both set and removed"},
		{"", []string{"label", "x", "--remove", ""}, "empty label key"},
		{"", []string{"label", "-", "-l", "k=v"}, "read no agent name"},
		{"", []string{"rename", "x"}, "accepts 2 arg"},
		{"", []string{"rename", "x", "bad name"}, "invalid agent name"},
		{"", []string{"rename", "--host", "h", "bad.name"}, "invalid host name"},
		{"a b\n", []string{"stop", "-"}, "not one agent name"},
		{"", []string{"stop", "-", "-"}, "given twice"},
		{"x\n", []string{"message", "-", "--message-file", "-"}, "not both"},
		{"", []string{"create", "z", "command", "--label", "a?b=1", "--", "true"}, "Azure tags refuse"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code := te.runIn(tt.stdin, tt.args...)
			if code != ExitUsage || !strings.Contains(te.errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 and %q", code, te.errOut, tt.want)
			}
		})
	}
}

func TestListQueryLocalAgents(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "qa1", "command", "--label", "team=a", "--", "sleep", "60")
	te.mustRun("create", "qa2", "command", "--label", "team=a", "--label", "n=10", "--", "sleep", "60")
	te.mustRun("create", "qb1", "command", "--label", "team=b", "--label", "n=9", "--", "sleep", "60")
	for _, n := range []string{"qa1", "qa2", "qb1"} {
		waitAgentState(t, te, n, "WAITING")
	}
	ids := map[string]string{}
	var res struct {
		Agents []map[string]any `json:"agents"`
	}
	te.mustRun("list", "--format", "json")
	te.jsonOut(&res)
	for _, a := range res.Agents {
		ids[a["name"].(string)] = a["id"].(string)
		if a["idle_seconds"] == nil {
			t.Errorf("agent %s has no idle_seconds on a running host", a["name"])
		}
	}

	got := lines(te.mustRun("list", "--ids", "--label", "team=a"))
	if d := cmp.Diff([]string{ids["qa1"], ids["qa2"]}, got); d != "" {
		t.Errorf("--ids --label team=a (-want +got)\n%s", d)
	}
	got = lines(te.mustRun("list", "--addrs", "--include", `labels.team == "b"`))
	if d := cmp.Diff([]string{"qb1@localhost.local"}, got); d != "" {
		t.Errorf("--addrs (-want +got)\n%s", d)
	}
	got = lines(te.mustRun("list", "--fields", "name", "--sort", "int(labels.n) desc", "--limit", "2", "--local", "--include", `idle < duration("1h")`))
	if d := cmp.Diff([]string{"NAME", "qa2", "qb1"}, got); d != "" {
		t.Errorf("--fields name --sort numeric desc --limit 2 (-want +got)\n%s", d)
	}
	if out := te.mustRun("list", "--remote"); !strings.Contains(out, "No agents found") {
		t.Errorf("--remote on local agents = %q", out)
	}
	var fres struct {
		Agents []map[string]any `json:"agents"`
	}
	te.mustRun("list", "--fields", "name,labels.team,host.provider,create_time,age", "--format", "json", "--label", "team=b")
	te.jsonOut(&fres)
	if len(fres.Agents) != 1 {
		t.Fatalf("--fields json = %s", te.out)
	}
	a := fres.Agents[0]
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if d := cmp.Diff([]string{"age", "create_time", "host.provider", "labels.team", "name"}, keys); d != "" {
		t.Errorf("--fields json keys (-want +got)\n%s", d)
	}
	if a["labels.team"] != "b" || a["host.provider"] != "local" {
		t.Errorf("--fields json = %v", a)
	}
	if _, isNum := a["age"].(float64); !isNum {
		t.Errorf("age in json is %T, want seconds", a["age"])
	}

	// The ids of team a into stop: exactly those two stop.
	idsA := te.mustRun("list", "--ids", "--label", "team=a")
	if code := te.runIn(idsA, "stop", "-"); code != 0 {
		t.Fatalf("stop -: exit %d: %s", code, te.errOut)
	}
	waitAgentState(t, te, "qa1", "STOPPED")
	waitAgentState(t, te, "qa2", "STOPPED")
	if s := agentState(t, te, "qb1"); s != "WAITING" {
		t.Errorf("qb1 = %s after stopping team a", s)
	}
	if got := lines(te.mustRun("list", "--stopped", "--ids")); len(got) != 2 {
		t.Errorf("--stopped --ids = %v", got)
	}
	if code := te.runIn("# team a\n"+idsA, "start", "-"); code != 0 {
		t.Fatalf("start -: exit %d: %s", code, te.errOut)
	}
	waitAgentState(t, te, "qa1", "WAITING")
}

func TestLabelAndRenameLocal(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "lr1", "command", "--label", "team=a", "--", "sleep", "60")
	te.mustRun("create", "lr2", "command", "--", "sleep", "60")
	waitAgentState(t, te, "lr1", "WAITING")

	if out := te.mustRun("label", "lr1", "lr2", "-l", "team=x", "-l", "owner=me"); !strings.Contains(out, "Labelled agent lr1: owner=me,project=cwd,team=x") {
		t.Errorf("label output = %q", out)
	}
	if got := lines(te.mustRun("list", "--addrs", "--label", "team=x", "--label", "owner=me")); len(got) != 2 {
		t.Errorf("labelled agents = %v", got)
	}
	te.mustRun("label", "lr2", "--remove", "owner", "--format", "json")
	var lres struct {
		Labelled []core.LabelResult `json:"labelled_agents"`
	}
	te.jsonOut(&lres)
	if len(lres.Labelled) != 1 || lres.Labelled[0].Labels["owner"] != "" || lres.Labelled[0].Labels["team"] != "x" || lres.Labelled[0].Offline {
		t.Errorf("label --remove json = %+v", lres)
	}
	// The record on the host has them (what list reads).
	var res struct {
		Agents []agentDetails `json:"agents"`
	}
	te.mustRun("list", "--format", "json", "--include", `name == "lr2"`)
	te.jsonOut(&res)
	if len(res.Agents) != 1 || !cmp.Equal(res.Agents[0].Labels, map[string]string{"team": "x", "project": "cwd"}) {
		t.Fatalf("lr2 labels = %+v", res.Agents)
	}
	// Names from stdin.
	if code := te.runIn("lr1\nlr2\n", "label", "-", "-l", "batch=1"); code != 0 {
		t.Fatalf("label -: exit %d: %s", code, te.errOut)
	}
	if got := lines(te.mustRun("list", "--ids", "--label", "batch=1")); len(got) != 2 {
		t.Errorf("label - labelled %v", got)
	}
	// A label of an agent that does not exist: exit 1, named.
	if code := te.run("label", "nosuch", "-l", "a=b"); code != ExitError || !strings.Contains(te.errOut.String(), "nosuch") {
		t.Errorf("label nosuch: exit %d %q", code, te.errOut)
	}

	// Rename a running agent: its session follows, it keeps running.
	id := lines(te.mustRun("list", "--ids", "--include", `name == "lr1"`))[0]
	if out := te.mustRun("rename", "lr1", "renamed1"); !strings.Contains(out, "Renamed agent lr1 to renamed1") {
		t.Errorf("rename output = %q", out)
	}
	waitAgentState(t, te, "renamed1", "WAITING")
	if got := lines(te.mustRun("list", "--ids", "--include", `name == "renamed1"`)); len(got) != 1 || got[0] != id {
		t.Errorf("renamed agent ids = %v, want [%s]", got, id)
	}
	sess := te.env["MNGR_PREFIX"] + "renamed1"
	if err := exec.CommandContext(t.Context(), "tmux", "has-session", "-t", "="+sess).Run(); err != nil {
		t.Errorf("no tmux session %s after rename: %v", sess, err)
	}
	envFile := filepath.Join(te.env["MNGR_HOST_DIR"], "agents", id, "env")
	if b, err := os.ReadFile(envFile); err != nil || !strings.Contains(string(b), "MNGR_AGENT_NAME=renamed1") {
		t.Errorf("env file after rename: %v %q", err, b)
	}
	// The old name is free again; a taken one is refused.
	if code := te.run("rename", "renamed1", "lr2"); code != ExitError || !strings.Contains(te.errOut.String(), "taken") {
		t.Errorf("rename to a taken name: exit %d %q", code, te.errOut)
	}
	te.mustRun("create", "lr1", "command", "--", "sleep", "60")
	// By id, and as JSON.
	te.mustRun("rename", id, "renamed2", "--format", "json")
	var rres renameResult
	te.jsonOut(&rres)
	if rres != (renameResult{Kind: "agent", ID: id, OldName: "renamed1", NewName: "renamed2"}) {
		t.Errorf("rename json = %+v", rres)
	}
	// The stopped agent renamed starts under its new name.
	te.mustRun("stop", "renamed2")
	te.mustRun("rename", "renamed2", "renamed3")
	te.mustRun("start", "renamed3")
	waitAgentState(t, te, "renamed3", "WAITING")

	// The local host keeps its name.
	if code := te.run("rename", "--host", "localhost", "other"); code != ExitError || !strings.Contains(te.errOut.String(), "always called localhost") {
		t.Errorf("rename --host localhost: exit %d %q", code, te.errOut)
	}
}

// On a provider that keeps records beside its hosts, an agent of a stopped
// host is labelled and renamed there; its start brings both into the
// host's record and its session has the new name.
func TestLabelAndRenameOfflineHost(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "off1", "command", "--provider", "fakecloud", "--label", "team=a", "--", "sleep", "60")
	waitAgentState(t, te, "off1", "WAITING")
	te.mustRun("stop", "off1")
	var hid core.HostID
	for id := range te.cloud.hosts {
		hid = id
	}
	if te.cloud.hosts[hid].running {
		t.Fatal("the host still runs after stop")
	}
	out := te.mustRun("label", "off1", "-l", "team=z")
	if !strings.Contains(out, "host offline") {
		t.Errorf("offline label output = %q", out)
	}
	te.mustRun("rename", "off1", "off2")
	if te.cloud.hosts[hid].running {
		t.Fatal("label or rename started the host")
	}
	var rec core.AgentRecord
	for _, r := range te.cloud.hosts[hid].agents {
		rec = r
	}
	if rec.Name != "off2" || rec.Labels["team"] != "z" {
		t.Fatalf("mirror after offline label and rename = %+v", rec)
	}
	// The host's own record still has the old ones until the start.
	data := filepath.Join(te.cloud.hosts[hid].dir, "agents", string(rec.ID), "data.json")
	var onHost core.AgentRecord
	b, err := os.ReadFile(data)
	if err != nil || json.Unmarshal(b, &onHost) != nil || onHost.Name != "off1" {
		t.Fatalf("host record before start: %v %s", err, b)
	}
	te.mustRun("start", "off2")
	waitAgentState(t, te, "off2", "WAITING")
	b, err = os.ReadFile(data)
	if err != nil || json.Unmarshal(b, &onHost) != nil || onHost.Name != "off2" || onHost.Labels["team"] != "z" {
		t.Fatalf("host record after start: %v %s", err, b)
	}
	if got := lines(te.mustRun("list", "--addrs", "--label", "team=z")); len(got) != 1 || !strings.HasPrefix(got[0], "off2@") {
		t.Errorf("after start: %v", got)
	}
}

func TestListHosts(t *testing.T) {
	requireTmux(t)
	te := newTestEnv(t)
	te.mustRun("create", "h1", "command", "--provider", "fakecloud", "--", "sleep", "60")
	waitAgentState(t, te, "h1", "WAITING")
	// An agent-less host beside it.
	empty := core.NewHostID()
	dir := filepath.Join(te.cloud.root, string(empty))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	te.cloud.hosts[empty] = &fakeHost{dh: core.DiscoveredHost{ID: empty, Name: "empty-host", Provider: "fakecloud", State: core.HostRunning,
		CreatedAt: time.Now().Add(-2 * time.Hour), Size: "Standard_B2s", Region: "eastus"}, dir: dir, running: true, agents: map[core.AgentID]core.AgentRecord{}}
	var res listHostsOutput
	te.mustRun("list", "--hosts", "--format", "json")
	te.jsonOut(&res)
	byName := map[string]hostRow{}
	for _, h := range res.Hosts {
		byName[h.Name] = h
	}
	if len(byName) != 3 {
		t.Fatalf("hosts = %+v", res.Hosts)
	}
	loc := byName["localhost"]
	if loc.Cost == nil || loc.Cost.ComputePerHour == nil || *loc.Cost.ComputePerHour != 0 || loc.BillingNow != "none" {
		t.Errorf("localhost row = %+v", loc)
	}
	e := byName["empty-host"]
	if e.Agents != 0 || e.Size != "Standard_B2s" || e.Region != "eastus" || e.AgeSeconds == nil || *e.AgeSeconds < 7000 || e.Cost != nil ||
		!strings.HasPrefix(e.BillingNow, "unknown") {
		t.Errorf("empty host row = %+v", e)
	}
	var withAgent hostRow
	for n, h := range byName {
		if n != "localhost" && n != "empty-host" {
			withAgent = h
		}
	}
	if withAgent.Agents != 1 || withAgent.IdleSeconds == nil {
		t.Errorf("host with an agent = %+v", withAgent)
	}
	out := te.mustRun("list", "--hosts")
	for _, w := range []string{"NAME", "COST NOW", "SO FAR", "empty-host", "Standard_B2s", "none"} {
		if !strings.Contains(out, w) {
			t.Errorf("human --hosts lacks %q:\n%s", w, out)
		}
	}
}

// A [commands.list] default for the agent listing (sort, fields, a filter)
// does not make `list --hosts` fail; the same flag typed does, by name.
func TestListHostsIgnoresListDefaults(t *testing.T) {
	te := newTestEnv(t)
	writeTestFile(t, filepath.Join(te.env["HOME"], ".mngr", "settings.toml"), `
[commands.list]
sort = "name desc"
fields = "name,state"
label = ["team=a"]
`)
	te.mustRun("list", "--hosts", "--format", "json")
	var res listHostsOutput
	te.jsonOut(&res)
	if len(res.Hosts) == 0 {
		t.Errorf("list --hosts with [commands.list] defaults: no hosts in %s", te.out)
	}
	if code := te.run("list", "--hosts", "--sort", "name"); code != ExitUsage || !strings.Contains(te.errOut.String(), "--hosts lists hosts: --sort (") {
		t.Errorf("list --hosts --sort: exit %d stderr %q, want exit 2 naming --sort", code, te.errOut)
	}
}

func TestDollarsNeverReadsAsFreeForAYoungHost(t *testing.T) {
	for _, tt := range []struct {
		v    *float64
		want string
	}{{nil, "unknown"}, {ptrFloat(0), "$0.00"}, {ptrFloat(0.0009), "<$0.01"}, {ptrFloat(0.005), "$0.01"}, {ptrFloat(2.3149), "$2.31"}} {
		if got := dollars(tt.v); got != tt.want {
			t.Errorf("dollars(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func ptrFloat(f float64) *float64 { return &f }

// TestRenameLocalHostOnANewHome: on a HOME where nothing used the local
// host yet, renaming "localhost" says the local host cannot be renamed,
// as it does once the host exists, not that no such host exists.
func TestRenameLocalHostOnANewHome(t *testing.T) {
	te := newTestEnv(t)
	code := te.runIn("", "rename", "--host", "localhost", "other")
	if code == ExitOK || !strings.Contains(te.errOut.String(), "the local host is always called localhost") || strings.Contains(te.errOut.String(), "no host named") {
		t.Fatalf("exit %d, stderr %q", code, te.errOut)
	}
}
