package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
	"github.com/mngr-azure/mngr/internal/vps"
	"github.com/mngr-azure/mngr/internal/vps/vpstest"
)

// The fleet of issue #7: 50 hosts, 20 deallocated, 5 running but not
// answering, 25 running and answering.
const (
	scaleHosts       = 50
	scaleDeallocated = 20
	scaleSilent      = 5
	// scaleReachTimeout is the provider's ReachTimeout in the test: how long
	// list waits on a host that accepts TCP but never speaks SSH.
	scaleReachTimeout = 3 * time.Second
	// scaleLatency is the simulated distance of each answering host: the
	// sshtest server waits this long before its handshake and before each
	// command, so one answering host costs about 3 × scaleLatency (handshake,
	// `echo ok`, the agent listing) on top of the real work.
	scaleLatency = 150 * time.Millisecond
	// scaleMaxRatio is the bound: a full list within 1.5 probe rounds.
	scaleMaxRatio = 1.5
	// scaleMaxMB is the memory bound.
	scaleMaxMB = 60
)

type hostKind int

const (
	kindReachable hostKind = iota
	kindSilent
	kindDeallocated
)

// scaleKind spreads the kinds over the name order (list probes hosts in name
// order): i%5 in {0,1} is deallocated (20), i%10 == 3 is silent (5), the
// other 25 answer.
func scaleKind(i int) hostKind {
	switch {
	case i%5 <= 1:
		return kindDeallocated
	case i%10 == 3:
		return kindSilent
	default:
		return kindReachable
	}
}

// scaleTeam labels the hosts' agents: team a on even hosts, b on odd ones.
func scaleTeam(i int) string {
	if i%2 == 0 {
		return "a"
	}
	return "b"
}

// scaleFilter is a list query over the fleet: a CEL filter on a label and
// the host's state, a numeric sort, a limit. It must cost no round beyond
// the listing's.
var scaleFilter = []string{"--include", `labels.team == "a" && host.state != "FAILED"`, "--exclude", `name == "nobody"`,
	"--sort", "int(labels.n) desc, name", "--limit", "20"}

// scaleFleet is 50 simulated VMs on loopback addresses 127.88.R.1..50, all
// behind one in-memory cloud.
type scaleFleet struct {
	t       testing.TB
	home    string
	keyDir  string
	port    int
	prefix  string
	insts   []vps.Instance
	agents  [][]core.AgentRecord
	kinds   []hostKind
	servers []*sshtest.Server // container sshd of each host (port)
	vmSSH   []*sshtest.Server // port 22 of each deallocated host, when it could be bound
}

func newScaleFleet(tb testing.TB) *scaleFleet {
	tb.Helper()
	home := tb.TempDir()
	fl := &scaleFleet{t: tb, home: home, keyDir: filepath.Join(home, "keys"), prefix: "mngrscale-"}
	keys, err := vps.EnsureKeys(fl.keyDir)
	if err != nil {
		tb.Fatal(err)
	}
	hostKey, _, err := sshx.GenerateEd25519("container host")
	if err != nil {
		tb.Fatal(err)
	}
	// The hosts' tmux and ps: each host's own small tables (see listenAll).
	bin := filepath.Join(home, "bin")
	for name, file := range map[string]string{"tmux": "panes", "ps": "procs"} {
		if err := os.MkdirAll(bin, 0o755); err != nil {
			tb.Fatal(err)
		}
		script := "#!/bin/sh\nexec cat ./" + file + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	// Pick a free /24 and port in 127.88.0.0/16; another test may hold one.
	var lastErr error
	for attempt := 0; attempt < 8 && len(fl.servers) < scaleHosts; attempt++ {
		subnet := 1 + rand.IntN(250)
		fl.port = 20000 + rand.IntN(30000)
		if lastErr = fl.listenAll(subnet, hostKey, keys); lastErr != nil {
			fl.closeServers()
		}
	}
	if len(fl.servers) < scaleHosts {
		tb.Fatalf("could not bind %d loopback listeners: %v", scaleHosts, lastErr)
	}
	tb.Cleanup(fl.closeServers)
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range scaleHosts {
		ip := fl.servers[i].Host()
		inst := vps.Instance{
			ID: fmt.Sprintf("vm-%02d", i), HostID: core.NewHostID(), HostName: fmt.Sprintf("scale-%02d", i),
			Status: vps.StatusActive, PublicIP: ip, Tags: map[string]string{},
		}
		if fl.kinds[i] == kindDeallocated {
			inst.Status = vps.StatusStopped
		}
		rec := core.AgentRecord{ID: core.NewAgentID(), Name: fmt.Sprintf("agent-%02d", i), Type: "claude",
			Command: "claude", WorkDir: "/work", CreateTime: created.Add(time.Duration(i) * time.Minute),
			Labels: map[string]string{"team": scaleTeam(i), "n": fmt.Sprint(i)}}
		if fl.kinds[i] == kindReachable {
			// The record lives on the host, and the host's tmux and ps
			// show the agent's pane running claude: it lists as WAITING,
			// which only the live host can tell.
			hostDir := filepath.Join(home, "hosts", inst.HostName)
			dir := filepath.Join(hostDir, "mngr", "agents", string(rec.ID))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				tb.Fatal(err)
			}
			data, _ := json.Marshal(rec)
			files := map[string]string{
				filepath.Join(dir, "data.json"): string(data),
				filepath.Join(hostDir, "panes"): fmt.Sprintf("0|4242|0|%s|claude\n", core.SessionName(fl.prefix, rec.Name)),
				filepath.Join(hostDir, "procs"): "1 0 sleep\n77 1 sshd\n4242 1 claude\n",
			}
			for f, text := range files {
				if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
					tb.Fatal(err)
				}
			}
			if err := sshx.PinHostKey(keys.ContainerKnownHosts, ip, fl.port, fl.servers[i].HostPublicKey()); err != nil {
				tb.Fatal(err)
			}
		}
		fl.insts = append(fl.insts, inst)
		fl.agents = append(fl.agents, []core.AgentRecord{rec})
	}
	return fl
}

// listenAll starts the 50 listeners on 127.88.subnet.1..50:port.
func (fl *scaleFleet) listenAll(subnet int, hostKey []byte, keys *vps.Keys) error {
	fl.kinds = nil
	for i := range scaleHosts {
		kind := scaleKind(i)
		ip := fmt.Sprintf("127.88.%d.%d", subnet, i+1)
		cfg := sshtest.Config{Addr: net.JoinHostPort(ip, fmt.Sprint(fl.port)), HostKeyPEM: hostKey, AuthorizedKey: keys.ContainerKeyPub}
		switch kind {
		case kindReachable:
			dir := filepath.Join(fl.home, "hosts", fmt.Sprintf("scale-%02d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			// The listing script runs for real in the host's directory, but
			// its tmux and ps print the host's own tables: a container has
			// a handful of processes, and 25 simulated hosts share this
			// machine's cores, where 25 real `ps -e` at once over the
			// machine's processes cost seconds no real list pays.
			cfg.Dir, cfg.Latency = dir, scaleLatency
			cfg.Env = []string{"PATH=" + filepath.Join(fl.home, "bin") + ":" + os.Getenv("PATH"), "TMUX_TMPDIR=" + dir, "TMUX="}
		case kindSilent:
			cfg.Mode = sshtest.ModeSilent
		case kindDeallocated:
			cfg.Mode = sshtest.ModeReset
		}
		s, err := sshtest.Start(cfg)
		if err != nil {
			return err
		}
		fl.servers = append(fl.servers, s)
		fl.kinds = append(fl.kinds, kind)
		if kind == kindDeallocated {
			// The VM's own sshd port too, best effort (it needs root).
			cfg.Addr = net.JoinHostPort(ip, "22")
			if s22, err := sshtest.Start(cfg); err == nil {
				fl.vmSSH = append(fl.vmSSH, s22)
			}
		}
	}
	return nil
}

func (fl *scaleFleet) closeServers() {
	for _, s := range append(fl.servers, fl.vmSSH...) {
		s.Close()
	}
	fl.servers, fl.vmSSH = nil, nil
}

// dialsToDeallocated counts TCP connections any deallocated host received.
func (fl *scaleFleet) dialsToDeallocated() int {
	n := 0
	for i, s := range fl.servers {
		if fl.kinds[i] == kindDeallocated {
			n += s.Stats().Conns
		}
	}
	for _, s := range fl.vmSSH {
		n += s.Stats().Conns
	}
	return n
}

// listResult is one `mngr list --format json` run.
type listResult struct {
	wall   time.Duration
	agents []agentDetails
	errs   []gatherError
	code   ExitCode
	stderr string
}

// list runs `mngr list --format json` as a fresh invocation (new provider,
// so no SSH connection is reused) over the hosts picked by idx.
func (fl *scaleFleet) list(idx []int) listResult {
	fl.t.Helper()
	return fl.listArgs(idx)
}

// listArgs is list with more arguments (a query, or --hosts: its rows are
// counted in agents as bare names).
func (fl *scaleFleet) listArgs(idx []int, extra ...string) listResult {
	fl.t.Helper()
	cloud := vpstest.NewClient()
	for _, i := range idx {
		cloud.Put(fl.insts[i], fl.agents[i])
	}
	var (
		mu    sync.Mutex
		provs []*vps.Provider
	)
	reg := &core.Registry{}
	reg.Register(core.Backend{Name: "scalevps", DefaultInstance: true, New: func(_ context.Context, name string, _ core.Settings, env core.Env) (core.Provider, error) {
		p, err := vps.NewProvider(cloud, vps.Config{ProviderName: name, Prefix: env.Prefix, KeyDir: fl.keyDir, HostDir: "mngr",
			ContainerSSHPort: fl.port, ReachTimeout: scaleReachTimeout})
		if err == nil {
			mu.Lock()
			provs = append(provs, p)
			mu.Unlock()
		}
		return p, err
	}})
	env := map[string]string{"HOME": fl.home, "MNGR_HOST_DIR": filepath.Join(fl.home, ".mngr"), "MNGR_PREFIX": fl.prefix}
	var out, errOut bytes.Buffer
	f := NewFactory(reg, &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, func(k string) string { return env[k] })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	code := Run(ctx, f, append([]string{"list", "--format", "json"}, extra...))
	wall := time.Since(start)
	for _, p := range provs {
		p.Close()
	}
	var doc struct {
		Agents []agentDetails `json:"agents"`
		Hosts  []hostRow      `json:"hosts"`
		Errors []gatherError  `json:"errors"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		fl.t.Fatalf("list output %q: %v (stderr %s)", out.String(), err, errOut.String())
	}
	for _, h := range doc.Hosts {
		doc.Agents = append(doc.Agents, agentDetails{Name: h.Name, Host: hostDetails{Name: h.Name, State: h.State}})
	}
	return listResult{wall: wall, agents: doc.Agents, errs: doc.Errors, code: code, stderr: errOut.String()}
}

func (fl *scaleFleet) indexes(kinds ...hostKind) []int {
	var out []int
	for i, k := range fl.kinds {
		if slices.Contains(kinds, k) {
			out = append(out, i)
		}
	}
	return out
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// maxRSSMB is this process's peak resident set so far, in MiB.
func maxRSSMB(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// cpuTime is the user+system CPU time so far of this process
// (RUSAGE_SELF) or of its waited-for children (RUSAGE_CHILDREN).
func cpuTime(tb testing.TB, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleMeasure is what one measurement of the fleet found.
type scaleMeasure struct {
	reachProbe, deadProbe, round, full time.Duration
	// answering is a list of the 25 answering and 20 deallocated hosts
	// only: what the 25 probes cost when no silent host hides them.
	answering time.Duration
	// selfCPU is that list's CPU time in this process (the client and the
	// in-process SSH servers), shellCPU in the hosts' shells.
	selfCPU, shellCPU      time.Duration
	heapMB, allocMB, rssMB float64
	// filtered is the full list with scaleFilter, hosts `list --hosts`.
	filtered, hosts time.Duration
}

func (m scaleMeasure) ratio() float64 { return m.full.Seconds() / m.round.Seconds() }

// measureScale defines one SSH probe round as the wall time of `mngr list`
// over a single host, cold, for the slowest kind of running host: the max of
// (a) one answering host (connect, handshake, `echo ok`, the agent listing)
// and (b) one silent host (the provider's ReachTimeout, then its mirrored
// agents). A list that probes every running host at once costs about one
// such round; each extra round of a too-small worker pool adds one more.
// Each figure is the median of runs.
func measureScale(tb testing.TB, fl *scaleFleet, runs int) scaleMeasure {
	tb.Helper()
	reach := fl.indexes(kindReachable)
	silent := fl.indexes(kindSilent)
	var rs, ds, fs []time.Duration
	for r := range runs {
		res := fl.list(reach[r%len(reach) : r%len(reach)+1])
		if res.code != ExitOK || len(res.agents) != 1 || res.agents[0].Host.State != core.HostRunning {
			tb.Fatalf("list of one answering host: exit %d, agents %+v, stderr %s", res.code, res.agents, res.stderr)
		}
		rs = append(rs, res.wall)
		res = fl.list(silent[r%len(silent) : r%len(silent)+1])
		if res.code != ExitOK || len(res.agents) != 1 {
			tb.Fatalf("list of one silent host: exit %d, agents %+v, stderr %s", res.code, res.agents, res.stderr)
		}
		ds = append(ds, res.wall)
	}
	all := fl.indexes(kindReachable, kindSilent, kindDeallocated)
	var m scaleMeasure
	var as []time.Duration
	var selfCPU, childCPU []time.Duration
	for range runs {
		self0, child0 := cpuTime(tb, syscall.RUSAGE_SELF), cpuTime(tb, syscall.RUSAGE_CHILDREN)
		res := fl.list(fl.indexes(kindReachable, kindDeallocated))
		selfCPU = append(selfCPU, cpuTime(tb, syscall.RUSAGE_SELF)-self0)
		childCPU = append(childCPU, cpuTime(tb, syscall.RUSAGE_CHILDREN)-child0)
		if res.code != ExitOK || len(res.agents) != scaleHosts-scaleSilent {
			tb.Fatalf("list without the silent hosts: exit %d, %d agents, stderr %s", res.code, len(res.agents), res.stderr)
		}
		as = append(as, res.wall)
	}
	m.answering, m.selfCPU, m.shellCPU = medianDuration(as), medianDuration(selfCPU), medianDuration(childCPU)
	for range runs {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res := fl.list(all)
		runtime.ReadMemStats(&after)
		checkFullList(tb, fl, res)
		fs = append(fs, res.wall)
		m.heapMB = max(m.heapMB, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20))
		m.allocMB = max(m.allocMB, float64(after.TotalAlloc-before.TotalAlloc)/(1<<20))
	}
	var qs, hs []time.Duration
	for range runs {
		res := fl.listArgs(all, scaleFilter...)
		checkFilteredList(tb, res)
		qs = append(qs, res.wall)
		res = fl.listArgs(all, "--hosts")
		if res.code != ExitOK || len(res.agents) != scaleHosts {
			tb.Fatalf("list --hosts: exit %d, %d hosts, stderr %s", res.code, len(res.agents), res.stderr)
		}
		hs = append(hs, res.wall)
	}
	m.filtered, m.hosts = medianDuration(qs), medianDuration(hs)
	m.reachProbe, m.deadProbe, m.full = medianDuration(rs), medianDuration(ds), medianDuration(fs)
	m.round = max(m.reachProbe, m.deadProbe)
	m.rssMB = maxRSSMB(tb)
	return m
}

// checkFilteredList checks the list with scaleFilter: the 20 team-a agents
// of the highest host numbers, highest first (numbers as numbers).
func checkFilteredList(tb testing.TB, res listResult) {
	tb.Helper()
	if res.code != ExitOK || len(res.errs) != 0 || len(res.agents) != 20 {
		tb.Fatalf("filtered list: exit %d, %d agents, errors %+v, stderr %s", res.code, len(res.agents), res.errs, res.stderr)
	}
	for k, a := range res.agents {
		if want := fmt.Sprintf("agent-%02d", 48-2*k); a.Name != want || a.Labels["team"] != "a" {
			tb.Fatalf("filtered list item %d = %s (team %s), want %s", k, a.Name, a.Labels["team"], want)
		}
	}
}

// checkFullList checks the 50-host list found every agent in the right state
// from the right source.
func checkFullList(tb testing.TB, fl *scaleFleet, res listResult) {
	tb.Helper()
	if res.code != ExitOK || len(res.errs) != 0 {
		tb.Fatalf("list exit %d, errors %+v, stderr %s", res.code, res.errs, res.stderr)
	}
	if len(res.agents) != scaleHosts {
		tb.Fatalf("list found %d agents, want %d", len(res.agents), scaleHosts)
	}
	byHost := map[string]agentDetails{}
	for _, a := range res.agents {
		byHost[a.Host.Name] = a
	}
	for i, inst := range fl.insts {
		a, ok := byHost[inst.HostName]
		want := core.AgentStopped
		if fl.kinds[i] == kindReachable {
			want = core.AgentWaiting
		}
		if !ok || a.Name != fl.agents[i][0].Name || a.State != want {
			tb.Fatalf("host %s: agent %+v (found %v), want %s %s", inst.HostName, a, ok, fl.agents[i][0].Name, want)
		}
		// Only answering hosts are RUNNING: the silent ones read as offline
		// after ReachTimeout, the deallocated ones come from the tags.
		if running := a.Host.State == core.HostRunning; running != (fl.kinds[i] == kindReachable) {
			tb.Fatalf("host %s (kind %d) listed as %s", inst.HostName, fl.kinds[i], a.Host.State)
		}
	}
}

// TestList50HostsScale is issue #7's list target as ratios: 50 hosts (20
// deallocated, 5 running but silent, 25 answering) list within 1.5 probe
// rounds, with no connection to a deallocated VM and under 60 MB.
func TestList50HostsScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 50 SSH listeners and runs about a dozen lists")
	}
	fl := newScaleFleet(t)
	m := measureScale(t, fl, 3)
	t.Logf("probe round: answering host %v, silent host %v (ReachTimeout %v); full list of %d hosts %v = %.2f rounds",
		m.reachProbe.Round(time.Millisecond), m.deadProbe.Round(time.Millisecond), scaleReachTimeout, scaleHosts,
		m.full.Round(time.Millisecond), m.ratio())
	t.Logf("without the silent hosts: %v = %.2f answering-host probes; CPU %v in this process (client and SSH servers), %v in the hosts' shells, all on this machine's cores",
		m.answering.Round(time.Millisecond), m.answering.Seconds()/m.reachProbe.Seconds(),
		m.selfCPU.Round(time.Millisecond), m.shellCPU.Round(time.Millisecond))
	t.Logf("memory: Go heap +%.1f MB after the list (%.1f MB allocated during it), process max RSS %.1f MB",
		m.heapMB, m.allocMB, m.rssMB)
	t.Logf("with a CEL filter, numeric sort and limit: %v = %.2f rounds; list --hosts: %v = %.2f rounds",
		m.filtered.Round(time.Millisecond), m.filtered.Seconds()/m.round.Seconds(),
		m.hosts.Round(time.Millisecond), m.hosts.Seconds()/m.round.Seconds())
	for what, d := range map[string]time.Duration{"filtered list": m.filtered, "list --hosts": m.hosts} {
		if r := d.Seconds() / m.round.Seconds(); r > scaleMaxRatio {
			t.Errorf("%s of %d hosts took %v = %.2f probe rounds, want at most %.1f", what, scaleHosts, d, r, scaleMaxRatio)
		}
	}
	if m.deadProbe < scaleReachTimeout {
		t.Errorf("a silent host took %v, less than ReachTimeout %v: it was not probed", m.deadProbe, scaleReachTimeout)
	}
	if m.deadProbe > 3*scaleReachTimeout {
		t.Errorf("a silent host took %v, far beyond ReachTimeout %v", m.deadProbe, scaleReachTimeout)
	}
	if m.ratio() > scaleMaxRatio {
		t.Errorf("list of %d hosts took %v = %.2f probe rounds (round %v), want at most %.1f",
			scaleHosts, m.full, m.ratio(), m.round, scaleMaxRatio)
	}
	if n := fl.dialsToDeallocated(); n != 0 {
		t.Errorf("%d connections reached deallocated hosts, want 0", n)
	}
	for i, s := range fl.servers {
		st := s.Stats()
		switch fl.kinds[i] {
		case kindReachable:
			if st.Handshakes == 0 || st.Execs == 0 {
				t.Errorf("answering host %d was never listed: %+v", i, st)
			}
		case kindSilent:
			if st.Conns == 0 {
				t.Errorf("silent host %d was never tried", i)
			}
		}
	}
	if !raceDetector && (m.heapMB > scaleMaxMB || m.rssMB > scaleMaxMB) {
		t.Errorf("memory: heap +%.1f MB, max RSS %.1f MB; want both at most %d MB", m.heapMB, m.rssMB, scaleMaxMB)
	}
}

// BenchmarkList50Hosts reports one full list of the 50-host fleet per
// iteration, with the probe round and memory as extra metrics.
func BenchmarkList50Hosts(b *testing.B) {
	fl := newScaleFleet(b)
	all := fl.indexes(kindReachable, kindSilent, kindDeallocated)
	b.ResetTimer()
	for b.Loop() {
		checkFullList(b, fl, fl.list(all))
	}
	b.StopTimer()
	m := measureScale(b, fl, 3)
	b.ReportMetric(m.round.Seconds(), "s/probe-round")
	b.ReportMetric(m.ratio(), "rounds/list")
	b.ReportMetric(m.filtered.Seconds()/m.round.Seconds(), "rounds/filtered-list")
	b.ReportMetric(m.hosts.Seconds()/m.round.Seconds(), "rounds/list-hosts")
	b.ReportMetric(m.answering.Seconds(), "s/list-no-silent")
	b.ReportMetric(m.shellCPU.Seconds(), "s-shell-cpu/list-no-silent")
	b.ReportMetric(m.rssMB, "MB-maxrss")
	b.ReportMetric(m.heapMB, "MB-heap-delta")
	if n := fl.dialsToDeallocated(); n != 0 {
		b.Errorf("%d connections reached deallocated hosts, want 0", n)
	}
}
