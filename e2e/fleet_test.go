//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fleetHost is one row of `mngr list --hosts --format json`.
type fleetHost struct {
	Name   string   `json:"name"`
	State  string   `json:"state"`
	Size   string   `json:"size"`
	Region string   `json:"region"`
	Age    *float64 `json:"age_seconds"`
	Agents int      `json:"agents"`
	Orphan bool     `json:"orphan"`
	// BillingNow is the COST NOW column: compute by the hour while it runs.
	BillingNow string `json:"billing_now"`
	Cost       struct {
		Compute *float64 `json:"compute_usd_per_hour"`
		Disk    *float64 `json:"disk_usd_per_month"`
		SoFar   *float64 `json:"estimate_so_far_usd"`
		Basis   string   `json:"basis"`
	} `json:"cost"`
}

func (j *journey) listHosts() map[string]fleetHost {
	j.t.Helper()
	var l struct {
		Hosts []fleetHost `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(j.must("list", "--hosts", "--format", "json")), &l); err != nil {
		j.t.Fatal(err)
	}
	out := map[string]fleetHost{}
	for _, h := range l.Hosts {
		out[h.Name] = h
	}
	return out
}

// listFields runs `mngr list --format json` with args and returns each
// agent object as it came.
func (j *journey) listFields(args ...string) []map[string]any {
	j.t.Helper()
	var l struct {
		Agents []map[string]any `json:"agents"`
	}
	if err := json.Unmarshal([]byte(j.must(append([]string{"list", "--format", "json"}, args...)...)), &l); err != nil {
		j.t.Fatal(err)
	}
	return l.Agents
}

// names is the "name" of each agent object, in order.
func names(agents []map[string]any) []string {
	var out []string
	for _, a := range agents {
		n, _ := a["name"].(string)
		out = append(out, n)
	}
	return out
}

// shell runs script with sh and the journey's environment, mngr first on
// PATH (a real pipe between two mngr processes).
func (j *journey) shell(script string) (string, error) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(slices.Clone(j.env), "PATH="+binDir+":"+os.Getenv("PATH"))
	cmd.Dir = j.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	j.t.Logf("$ %s\n%s", script, out.String())
	return out.String(), err
}

// TestFleetOnAzsim is the fleet of issue 22 on real simulated VMs: 12
// agents on 4 hosts made with a create template and labels, then the
// verbs that find, act on, label, rename, limit, clean up and price them,
// down to gc of a host left without agents; nothing is left at the end.
func TestFleetOnAzsim(t *testing.T) {
	t.Parallel()
	needDockerJourney(t, "boots four simulated VMs")
	j := startAzsimJourney(t, "docker")
	// The settings a fleet user writes: a create template, a default for
	// list, and a short minimum age for gc (a top-level key, so first).
	p := filepath.Join(j.envValue("HOME"), ".mngr", "settings.toml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const minAge = 30
	settings := fmt.Sprintf("default_min_online_host_age_seconds = %d\n\n", minAge) + string(b) + `
[create_templates.fleet]
provider = "azure"
no_connect = true
idle_timeout = "1h"

[commands.list]
sort = "name desc"
`
	if err := os.WriteFile(p, []byte(settings), 0o600); err != nil {
		t.Fatal(err)
	}
	j.must("azure", "prepare")

	// 4 hosts, teams a, a, b, b; each agent a distinct numeric label pri.
	team := func(h int) string { return map[bool]string{true: "a", false: "b"}[h <= 2] }
	name := func(h, k int) string { return fmt.Sprintf("f%d-%d", h, k) }
	pri := func(h, k int) string { return strconv.Itoa((h-1)*3 + k) }
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for h := 1; h <= 4; h++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[h] = j.mngr("create", name(h, 1), "-t", "fleet", "--label", "team="+team(h), "--label", "pri="+pri(h, 1))
		}()
	}
	wg.Wait()
	for h, err := range errs {
		if err != nil {
			t.Fatalf("create %s: %v", name(h, 1), err)
		}
	}
	agents := j.listAgents()
	hostOf := map[int]string{}
	for h := 1; h <= 4; h++ {
		a := agents[name(h, 1)]
		if a.Host.Name == "" || a.Host.State != "RUNNING" || slices.Contains(slices.Collect(maps.Values(hostOf)), a.Host.Name) {
			t.Fatalf("%s: %+v, want a running host of its own", name(h, 1), a)
		}
		hostOf[h] = a.Host.Name
	}
	// Two more on each host, the hosts at once, each host's in turn.
	for h := 1; h <= 4; h++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 2; k <= 3 && errs[h] == nil; k++ {
				_, _, errs[h] = j.mngr("create", name(h, k), "-t", "fleet", "--host", hostOf[h], "--label", "team="+team(h), "--label", "pri="+pri(h, k))
			}
		}()
	}
	wg.Wait()
	for h, err := range errs {
		if err != nil {
			t.Fatalf("create on host %d: %v", h, err)
		}
	}
	t.Logf("12 agents on 4 hosts in %s", time.Since(start).Round(time.Second))
	agents = j.listAgents()
	for h := 1; h <= 4; h++ {
		for k := 1; k <= 3; k++ {
			if a := agents[name(h, k)]; a.Host.Name != hostOf[h] || !alive(a.State) {
				t.Fatalf("%s: %+v, want alive on %s", name(h, k), a, hostOf[h])
			}
		}
	}
	// The template's idle timeout is the hosts' policy.
	if out := j.must("limit", name(1, 2)); !strings.Contains(out, "stops after 1h") {
		t.Errorf("limit %s: %q, want the template's 1h", name(1, 2), out)
	}

	// Host 3 gets 20 s; its watcher should deallocate it while the rest goes on.
	limited := time.Now()
	j.must("limit", "--host", hostOf[3], "--idle-timeout", "20s")

	// Host 1 idle for real: every activity stamp on it ten minutes old
	// (the clock the watcher and list read is these files' mtimes).
	j.must("exec", name(1, 1), `touch -d '10 minutes ago' "$MNGR_HOST_DIR"/activity/* "$MNGR_HOST_DIR"/agents/*/activity/*`)
	idleA := j.listFields("--include", `labels.team == "a" && idle > duration("1m")`, "--fields", "name,idle,labels.team", "--sort", "name")
	if got, want := names(idleA), []string{name(1, 1), name(1, 2), name(1, 3)}; !slices.Equal(got, want) {
		t.Errorf("idle team a = %v, want %v", got, want)
	}
	for _, a := range idleA {
		if idle, ok := a["idle"].(float64); !ok || idle < 540 || len(a) != 3 {
			t.Errorf("idle agent %v: want idle ≥ 540 s and the 3 fields asked", a)
		}
	}

	// --sort: a numeric label sorts as numbers (12 before 9 before 10 as text would not).
	sorted := names(j.listFields("--sort", "int(labels.pri) desc", "--fields", "name"))
	var want []string
	for i := 12; i >= 1; i-- {
		want = append(want, name((i-1)/3+1, (i-1)%3+1))
	}
	if !slices.Equal(sorted, want) {
		t.Errorf("--sort 'int(labels.pri) desc' = %v, want %v", sorted, want)
	}
	// [commands.list] sort = "name desc" is the default; a typed --sort wins.
	if got := names(j.listFields("--fields", "name")); !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) || len(got) != 12 {
		t.Errorf("list with [commands.list] sort = \"name desc\": %v", got)
	}
	if got := names(j.listFields("--fields", "name", "--sort", "name", "--limit", "2")); !slices.Equal(got, []string{name(1, 1), name(1, 2)}) {
		t.Errorf("--sort name --limit 2 = %v", got)
	}
	// --fields on the table: those columns, in that order.
	table := j.must("list", "--fields", "name,labels.pri,host.name", "--include", `name == "`+name(2, 3)+`"`)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME LABELS.PRI HOST.NAME" ||
		strings.Join(strings.Fields(lines[1]), " ") != name(2, 3)+" 6 "+hostOf[2] {
		t.Errorf("--fields table:\n%s", table)
	}

	// label (names on stdin and by name), then a real pipe into stop.
	if _, errOut, err := j.mngrIn(name(4, 1)+"\n"+name(4, 2)+"\n", "label", "-", name(4, 3), "-l", "grp=x"); err != nil {
		t.Fatalf("label -: %v %s", err, errOut)
	}
	j.must("label", name(4, 3), "-l", "owner=me", "--remove", "pri")
	if got := j.listFields("--label", "grp=x", "--fields", "name,labels.owner,labels.pri,labels.team"); len(got) != 3 {
		t.Fatalf("--label grp=x: %v", got)
	} else if a := got[0]; a["name"] != name(4, 3) || a["labels.owner"] != "me" || a["labels.pri"] != nil || a["labels.team"] != "b" {
		t.Errorf("labels of %v after label -l owner=me --remove pri", a)
	}
	if out, err := j.shell("mngr list --ids --label grp=x | mngr stop -"); err != nil {
		t.Fatalf("list --ids | stop -: %v\n%s", err, out)
	}
	agents = j.listAgents()
	for h := 1; h <= 4; h++ {
		for k := 1; k <= 3; k++ {
			if a := agents[name(h, k)]; (h == 4) == alive(a.State) {
				t.Errorf("after stop of grp=x: %s is %s", name(h, k), a.State)
			}
		}
	}

	// rename: an agent, and host 2.
	j.must("rename", name(2, 2), "f2-renamed")
	j.must("rename", "--host", hostOf[2], "fleet-two")
	agents = j.listAgents()
	if a, ok := agents["f2-renamed"]; !ok || a.Host.Name != "fleet-two" || !alive(a.State) {
		t.Errorf("after renames: %+v (listed %v)", a, ok)
	}
	if _, ok := agents[name(2, 2)]; ok {
		t.Errorf("the old name %s is still listed", name(2, 2))
	}
	hostOf[2] = "fleet-two"

	// cleanup: the dry run changes nothing, then the selection goes.
	before := j.listAgents()
	out := j.must("cleanup", "--older-than", "0s", "--label", "grp=x", "--dry-run")
	for k := 1; k <= 3; k++ {
		if !strings.Contains(out, name(4, k)) {
			t.Errorf("cleanup --dry-run does not name %s:\n%s", name(4, k), out)
		}
	}
	if strings.Contains(out, name(1, 1)) {
		t.Errorf("cleanup --dry-run names an agent outside grp=x:\n%s", out)
	}
	if after := j.listAgents(); len(after) != len(before) {
		t.Errorf("cleanup --dry-run changed the fleet: %d agents, then %d", len(before), len(after))
	}
	j.must("cleanup", "--destroy", "-f", "--older-than", "0s", "--label", "grp=x")
	agents = j.listAgents()
	if len(agents) != 9 {
		t.Errorf("after cleanup --destroy: %d agents, want 9", len(agents))
	}
	if _, ok := j.listHosts()[hostOf[4]]; ok {
		t.Errorf("host %s of the cleaned-up agents is still listed", hostOf[4])
	}

	// The watcher has stopped host 3 at the 20 s given by limit.
	deadline := limited.Add(4 * time.Minute)
	for {
		if h := j.listHosts()[hostOf[3]]; h.State == "STOPPED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s not stopped %s after limit --idle-timeout 20s", hostOf[3], time.Since(limited).Round(time.Second))
		}
		time.Sleep(5 * time.Second)
	}
	t.Logf("host %s deallocated itself %s after limit", hostOf[3], time.Since(limited).Round(time.Second))
	if p, billing := j.vmBilling(hostOf[3]); p != "deallocated" || billing {
		t.Errorf("idle VM: power %q billing %v, want deallocated and not billing", p, billing)
	}

	// list --hosts: state, size, region, age and the cost, as numbers.
	hosts := j.listHosts()
	for h := 1; h <= 3; h++ {
		r, ok := hosts[hostOf[h]]
		wantState := map[bool]string{true: "STOPPED", false: "RUNNING"}[h == 3]
		if !ok || r.State != wantState || r.Size != "Standard_B2s" || r.Region != "westus" || r.Age == nil || *r.Age <= 0 || r.Agents != 3 || strings.Contains(r.BillingNow, "/h compute") != (h != 3) {
			t.Errorf("list --hosts row of %s: %+v (listed %v)", hostOf[h], r, ok)
			continue
		}
		if r.Cost.Compute == nil || *r.Cost.Compute <= 0 || r.Cost.SoFar == nil || *r.Cost.SoFar <= 0 || r.Cost.Basis == "" {
			t.Errorf("cost of %s: compute %v so far %v basis %q, want numbers for Standard_B2s in westus", r.Name, r.Cost.Compute, r.Cost.SoFar, r.Cost.Basis)
		}
	}
	human := j.must("list", "--hosts")
	for _, w := range []string{"STATE", "SIZE", "REGION", "AGE", "COST NOW", "SO FAR", "Standard_B2s", "westus", "/h compute", hostOf[3]} {
		if !strings.Contains(human, w) {
			t.Errorf("list --hosts lacks %q:\n%s", w, human)
		}
	}

	// destroy @HOST: the stopped host 3 and its three agents.
	var d struct {
		Hosts []string `json:"destroyed_hosts"`
	}
	if err := json.Unmarshal([]byte(j.must("destroy", "-f", "@"+hostOf[3]+".azure", "--format", "json")), &d); err != nil || !slices.Equal(d.Hosts, []string{hostOf[3]}) {
		t.Errorf("destroy @%s: %v %+v", hostOf[3], err, d)
	}
	if got := len(j.listAgents()); got != 6 {
		t.Errorf("after destroy @%s: %d agents, want 6", hostOf[3], got)
	}

	// gc of a host left without agents: two of host 1's destroyed as users
	// do (the host stays for the third), the third lost (its session and
	// state gone, the VM up), which destroy cannot leave behind by itself.
	j.must("destroy", "-f", name(1, 2), name(1, 3))
	if h := j.listHosts()[hostOf[1]]; h.State != "RUNNING" || h.Agents != 1 {
		t.Fatalf("host %s after destroying two of its agents: %+v", hostOf[1], h)
	}
	j.must("exec", name(1, 1), `tmux kill-server 2>/dev/null; rm -rf "$MNGR_HOST_DIR"/agents`)
	quietFrom := time.Now()
	if h := j.listHosts()[hostOf[1]]; h.State != "RUNNING" || h.Agents != 0 || !h.Orphan || !strings.Contains(h.BillingNow, "/h compute") {
		t.Errorf("the agent-less host %s in list --hosts: %+v", hostOf[1], h)
	}
	var gc struct {
		Machines []struct {
			Name string `json:"name"`
			Done bool   `json:"done"`
		} `json:"machines_destroyed"`
	}
	took := func(out string) (named, done bool) {
		if err := json.Unmarshal([]byte(out), &gc); err != nil {
			t.Fatal(err)
		}
		for _, m := range gc.Machines {
			if m.Name == hostOf[1] {
				return true, m.Done
			}
		}
		return false, false
	}
	// The exec just stamped user activity: younger than the minimum age.
	if named, _ := took(j.must("gc", "--dry-run", "--format", "json")); named && time.Since(quietFrom) < minAge*time.Second {
		t.Errorf("gc would take host %s quiet for less than %d s", hostOf[1], minAge)
	}
	time.Sleep(time.Until(quietFrom.Add((minAge + 2) * time.Second)))
	if named, done := took(j.must("gc", "--format", "json")); !named || !done {
		t.Errorf("gc did not destroy the agent-less host %s quiet for %s", hostOf[1], time.Since(quietFrom).Round(time.Second))
	}
	if _, ok := j.listHosts()[hostOf[1]]; ok {
		t.Errorf("host %s still listed after gc", hostOf[1])
	}

	// The rest goes: host 2's agents, its host with the last.
	if out, err := j.shell("mngr list --ids | mngr destroy -f -"); err != nil {
		t.Errorf("destroy the rest: %v\n%s", err, out)
	}
	if n := len(j.listAgents()); n != 0 {
		t.Errorf("%d agents left", n)
	}
	j.must("gc")
	j.must("azure", "cleanup")
	if n := j.countVMs(); n != 0 {
		t.Errorf("%d VM(s) left", n)
	}
	j.checkNothingLeft()
	t.Logf("fleet test took %s", time.Since(start).Round(time.Second))
}
