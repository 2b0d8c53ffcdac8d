package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/testenv"
)

var sessionSeq atomic.Int64

// newTestHost returns the local host over a temp host dir and a tmux session
// prefix unique to the test; the test's sessions are killed at cleanup.
func newTestHost(t *testing.T) (*core.Host, string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed")
	}
	isolateTmux(t)
	p, err := New("local", Config{HostDir: t.TempDir()}, core.Env{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.CreateHost(context.Background(), core.CreateHostRequest{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("mngrt%d-%d-", os.Getpid(), sessionSeq.Add(1))
	t.Cleanup(func() {
		out, err := exec.CommandContext(context.Background(), "tmux", "list-sessions", "-F", "#{session_name}").Output()
		if err != nil {
			return // no server: nothing to clean
		}
		for _, s := range strings.Fields(string(out)) {
			if strings.HasPrefix(s, prefix) {
				_ = exec.CommandContext(context.Background(), "tmux", "kill-session", "-t", "="+s).Run()
			}
		}
	})
	return h, prefix
}

// waitState polls ListAgents (bounded: 10 s) until the agent reaches want.
func waitState(t *testing.T, h *core.Host, prefix, name string, want core.AgentState) core.AgentStatus {
	t.Helper()
	var got core.AgentStatus
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		agents, err := core.ListAgents(context.Background(), h, prefix)
		if err != nil {
			t.Fatal(err)
		}
		got = core.AgentStatus{}
		for _, a := range agents {
			if a.Record.Name == name {
				got = a
			}
		}
		if got.State == want {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("agent %s state = %q, want %q", name, got.State, want)
	return got
}

// panePIDs returns the pids of every pane of session s and their descendants.
func panePIDs(t *testing.T, s string) []int {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "tmux", "list-panes", "-s", "-t", "="+s+":", "-F", "#{pane_pid}").Output()
	if err != nil {
		t.Fatalf("list panes of %s: %v", s, err)
	}
	ps, err := exec.CommandContext(context.Background(), "ps", "-e", "-o", "pid=,ppid=").Output()
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, line := range strings.Split(string(ps), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	var all, frontier []int
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		frontier = append(frontier, pid)
	}
	for depth := 0; depth < 32 && len(frontier) > 0; depth++ {
		all = append(all, frontier...)
		var next []int
		for _, p := range frontier {
			next = append(next, children[p]...)
		}
		frontier = next
	}
	return all
}

// alive reports whether pid runs; a zombie (killed, not yet reaped) is dead.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(string(stat[i+1:]), " Z")
}

func TestAgentLifeCycle(t *testing.T) {
	ctx := context.Background()
	h, prefix := newTestHost(t)
	cmd, err := core.ResolveAgentCommand("command", "", []string{"sleep", "600"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cmd != "sleep 600" {
		t.Fatalf("command = %q, want %q", cmd, "sleep 600")
	}
	rec, err := core.CreateAgent(ctx, h, prefix, core.AgentSpec{
		Name: "demo", Type: "command", Command: cmd,
		Env: []string{"GREETING=hello world's $HOME `x` \"q\""},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(h.HostDir, "work", string(rec.ID)); rec.WorkDir != want {
		t.Errorf("work dir = %q, want %q", rec.WorkDir, want)
	}
	if st, err := os.Stat(rec.WorkDir); err != nil || !st.IsDir() {
		t.Fatalf("work dir not created: %v", err)
	}
	_, err = core.CreateAgent(ctx, h, prefix, core.AgentSpec{Name: "demo", Type: "command", Command: cmd})
	if !errors.Is(err, core.ErrConflict) || core.HintOf(err) == "" {
		t.Fatalf("duplicate name: err = %v (hint %q), want ErrConflict with a hint", err, core.HintOf(err))
	}
	waitState(t, h, prefix, "demo", core.AgentStopped)

	if err := core.StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, h, prefix, "demo", core.AgentWaiting)
	if st.HostID != h.ID || st.StartTime == nil {
		t.Errorf("status host %q start %v, want host %q and a start time", st.HostID, st.StartTime, h.ID)
	}
	// A second start is a no-op while the session lives.
	if err := core.StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}

	res, err := h.Exec.Run(ctx, core.ExecScript(h, rec, `pwd; echo "$MNGR_AGENT_NAME|$GREETING|$MNGR_AGENT_ID"`), core.RunOptions{})
	if err != nil || !res.OK() {
		t.Fatalf("exec: %v %+v", err, res)
	}
	want := rec.WorkDir + "\ndemo|hello world's $HOME `x` \"q\"|" + string(rec.ID) + "\n"
	if d := cmp.Diff(want, res.Stdout); d != "" {
		t.Fatalf("exec output (-want +got)\n%s", d)
	}

	pids := panePIDs(t, prefix+"demo")
	if len(pids) < 2 {
		t.Fatalf("pane processes %v: want the shell and sleep", pids)
	}
	if err := core.StopAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, prefix, "demo", core.AgentStopped)
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("agent process %d survived stop", pid)
		}
	}
	// Stopping a stopped agent is fine.
	if err := core.StopAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}

	if err := core.StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, prefix, "demo", core.AgentWaiting)
	if err := core.DestroyAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	agents, err := core.ListAgents(ctx, h, prefix)
	if err != nil || len(agents) != 0 {
		t.Fatalf("after destroy: %v %v", agents, err)
	}
	for _, p := range []string{rec.WorkDir, filepath.Join(h.HostDir, "agents", string(rec.ID))} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s remains after destroy: %v", p, err)
		}
	}
	if err := exec.CommandContext(context.Background(), "tmux", "has-session", "-t", "="+prefix+"demo").Run(); err == nil {
		t.Errorf("session %sdemo remains after destroy", prefix)
	}
}

func TestAgentDoneWhenCommandExits(t *testing.T) {
	ctx := context.Background()
	h, prefix := newTestHost(t)
	rec, err := core.CreateAgent(ctx, h, prefix, core.AgentSpec{Name: "quick", Type: "command", Command: "sleep 0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, prefix, "quick", core.AgentDone)
}

func TestAgentGivenWorkDirIsKept(t *testing.T) {
	ctx := context.Background()
	h, prefix := newTestHost(t)
	wd := filepath.Join(t.TempDir(), "my project")
	if err := os.Mkdir(wd, 0o700); err != nil {
		t.Fatal(err)
	}
	rec, err := core.CreateAgent(ctx, h, prefix, core.AgentSpec{Name: "keep", Type: "command", Command: "sleep 600", WorkDir: wd})
	if err != nil {
		t.Fatal(err)
	}
	if err := core.StartAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	waitState(t, h, prefix, "keep", core.AgentWaiting)
	res, err := h.Exec.Run(ctx, core.ExecScript(h, rec, "pwd"), core.RunOptions{})
	if err != nil || res.Stdout != wd+"\n" {
		t.Fatalf("exec pwd = %q, %v; want %q", res.Stdout, err, wd)
	}
	if err := core.DestroyAgent(ctx, h, prefix, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(wd); err != nil {
		t.Errorf("a work dir the user gave was removed: %v", err)
	}
}

func TestLocalHostRules(t *testing.T) {
	dir := t.TempDir()
	p, err := New("local", Config{HostDir: dir}, core.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.CreateHost(ctx, core.CreateHostRequest{Name: "other"}); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("create host other: err = %v, want ErrInvalidInput", err)
	}
	if err := p.DestroyHost(ctx, "localhost"); !errors.Is(err, core.ErrNotSupported) {
		t.Errorf("destroy host: err = %v, want ErrNotSupported", err)
	}
	a, err := p.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second provider over the same dir sees the same persisted id.
	p2, err := New("local", Config{}, core.Env{HostDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p2.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || len(b) != 1 || a[0].ID != b[0].ID || a[0].State != core.HostRunning || a[0].Name != HostName {
		t.Fatalf("hosts %+v and %+v: want one stable RUNNING localhost", a, b)
	}
	if _, err := core.ParseHostID(string(a[0].ID)); err != nil {
		t.Error(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "host_id"))
	if err != nil || strings.TrimSpace(string(raw)) != string(a[0].ID) {
		t.Errorf("host_id file = %q, %v; want %q", raw, err, a[0].ID)
	}
	for _, id := range []core.HostID{a[0].ID, HostName} {
		h, err := p.ConnectHost(ctx, id)
		if err != nil || h.ID != a[0].ID || h.HostDir != dir || h.Exec == nil {
			t.Errorf("connect %q: %+v, %v", id, h, err)
		}
	}
	if _, err := p.ConnectHost(ctx, core.NewHostID()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("connect unknown id: err = %v, want ErrNotFound", err)
	}
	if _, ok := any(p).(core.HostStopper); ok {
		t.Error("the local provider must not be a HostStopper")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		return // create needs tmux; the rest needs create
	}
	if _, err := p.CreateHost(ctx, core.CreateHostRequest{Tags: map[string]string{"team": "x"}}); err != nil {
		t.Fatal(err)
	}
	hosts, err := p.ListHosts(ctx)
	if err != nil || hosts[0].Tags["team"] != "x" {
		t.Errorf("tags after create: %+v, %v", hosts, err)
	}
}

// The local plan names no resource, writes nothing (not even the host id a
// first create makes) and refuses what CreateHost refuses.
func TestPlanCreateHost(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed")
	}
	dir := filepath.Join(t.TempDir(), "mngr")
	p, err := New("mine", Config{HostDir: dir}, core.Env{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plan, err := p.PlanCreateHost(ctx, core.CreateHostRequest{Name: HostName, Tags: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &core.CreatePlan{
		Provider: "mine", HostName: HostName, Resources: []core.PlannedResource{},
		Notes: []string{"the local provider makes no host: agents run in tmux on this machine, with their state under " + dir + "; no cost estimate applies"},
	}
	if d := cmp.Diff(want, plan); d != "" {
		t.Errorf("plan (-want +got)\n%s", d)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("plan wrote the host dir: stat err = %v", err)
	}
	hosts, err := p.ListHosts(ctx)
	if err != nil || len(hosts) != 0 {
		t.Fatalf("ListHosts before any create = %v, %v; want none", hosts, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a listing wrote the host dir: stat err = %v", err)
	}
	if _, err := p.CreateHost(ctx, core.CreateHostRequest{}); err != nil { // makes the host id
		t.Fatal(err)
	}
	if hosts, err = p.ListHosts(ctx); err != nil || len(hosts) != 1 {
		t.Fatalf("ListHosts after a create = %v, %v", hosts, err)
	}
	plan, err = p.PlanCreateHost(ctx, core.CreateHostRequest{})
	if err != nil || plan.HostID != hosts[0].ID {
		t.Errorf("plan after the id exists: %+v, %v; want host id %s", plan, err, hosts[0].ID)
	}
	for _, req := range []core.CreateHostRequest{{Name: "other"}, {IdleTimeoutSeconds: 60}} {
		if _, err := p.PlanCreateHost(ctx, req); !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("plan %+v: err = %v, want ErrInvalidInput", req, err)
		}
	}
}

type fakeSettings struct{ hostDir string }

func (f fakeSettings) Decode(v any) error {
	v.(*Config).HostDir = f.hostDir
	return nil
}

func TestBackend(t *testing.T) {
	b := Backend()
	if b.Name != "local" || !b.DefaultInstance {
		t.Fatalf("backend %+v", b)
	}
	dir := t.TempDir()
	tests := []struct {
		name     string
		settings core.Settings
		env      core.Env
		want     string
	}{
		{"block wins", fakeSettings{hostDir: dir}, core.Env{HostDir: "/elsewhere"}, dir},
		{"no block", nil, core.Env{HostDir: dir}, dir},
		{"tilde", fakeSettings{hostDir: "~/m"}, core.Env{Getenv: func(k string) string {
			if k == "HOME" {
				return dir
			}
			return ""
		}}, filepath.Join(dir, "m")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := b.New(context.Background(), "local", tt.settings, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.(*Provider).HostDir(); got != tt.want {
				t.Errorf("host dir = %q, want %q", got, tt.want)
			}
		})
	}
}

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

// TestStopTargetsExactSession: stopping foo after foo's session is gone
// must not touch foobar (tmux would match "foo" as a prefix of "foobar"
// without the = form).
func TestStopTargetsExactSession(t *testing.T) {
	ctx := context.Background()
	h, prefix := newTestHost(t)
	recs := map[string]core.AgentRecord{}
	for _, name := range []string{"foo", "foobar"} {
		rec, err := core.CreateAgent(ctx, h, prefix, core.AgentSpec{Name: name, Type: "command", Command: "sleep 600"})
		if err != nil {
			t.Fatal(err)
		}
		if err := core.StartAgent(ctx, h, prefix, rec); err != nil {
			t.Fatal(err)
		}
		waitState(t, h, prefix, name, core.AgentWaiting)
		recs[name] = rec
	}
	pids := panePIDs(t, prefix+"foobar")
	if err := exec.CommandContext(ctx, "tmux", "kill-session", "-t", "="+prefix+"foo").Run(); err != nil {
		t.Fatal(err)
	}
	// Messages and captures for foo never reach foobar's pane.
	if err := core.SendMessage(ctx, h, prefix, recs["foo"], "hello"); err == nil {
		t.Error("a message to foo, whose session is gone, was sent somewhere")
	}
	if out, err := core.CapturePane(ctx, h, prefix, recs["foo"], false); err == nil {
		t.Errorf("capturing foo, whose session is gone, gave %q", out)
	}
	if err := core.StopAgent(ctx, h, prefix, recs["foo"]); err != nil {
		t.Fatal(err)
	}
	if err := core.DestroyAgent(ctx, h, prefix, recs["foo"]); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Errorf("process %d of foobar was ended by stopping foo", pid)
		}
	}
	waitState(t, h, prefix, "foobar", core.AgentWaiting)
}

// One name, one agent: five creates of one name at once, on the local
// provider, give exactly one agent; the four others fail with "already
// exists" and leave nothing behind (no record, session, worktree or
// branch), and never touch the winner's branch.
func TestConcurrentCreatesOfOneName(t *testing.T) {
	for _, fromRepo := range []bool{false, true} {
		t.Run(fmt.Sprintf("from a repository %v", fromRepo), func(t *testing.T) {
			testenv.NeedTools(t, "tmux")
			isolateTmux(t)
			ctx := context.Background()
			prefix := fmt.Sprintf("mngrt%d-%d-", os.Getpid(), sessionSeq.Add(1))
			p, err := New("local", Config{HostDir: t.TempDir()}, core.Env{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			var repo string
			if fromRepo {
				repo = filepath.Join(t.TempDir(), "proj")
				for _, args := range [][]string{{"init", "-q", "-b", "main", repo}, {"-C", repo, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first"}} {
					if out, err := exec.CommandContext(ctx, "git", args...).CombinedOutput(); err != nil {
						t.Fatalf("git %v: %v %s", args, err, out)
					}
				}
			}
			const n = 5
			reqs := make([]core.CreateRequest, n)
			for i := range reqs {
				reqs[i] = core.CreateRequest{Provider: p, ProviderName: "local",
					Agent: core.AgentSpec{Name: "race2", Type: "command", Command: "sleep 600"}}
				if fromRepo {
					src, err := core.FindSource(ctx, repo)
					if err != nil {
						t.Fatal(err)
					}
					// Each create plans before any of them runs, as separate
					// mngr processes started together would.
					reqs[i].Transfer, err = core.PlanTransfer(ctx, core.TransferRequest{Source: src, AgentName: "race2", HostIsThisMachine: true})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			errs := make([]error, n)
			results := make([]*core.CreateResult, n)
			start := make(chan struct{})
			done := make(chan int)
			for i := range reqs {
				go func(i int) {
					<-start
					results[i], errs[i] = core.Create(ctx, reqs[i])
					done <- i
				}(i)
			}
			close(start)
			for range reqs {
				<-done
			}
			var winner *core.CreateResult
			for i, err := range errs {
				switch {
				case err == nil && winner == nil:
					winner = results[i]
				case err == nil:
					t.Errorf("a second create of race2 succeeded")
				case !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "already exists"):
					t.Errorf("create %d: %v, want already exists", i, err)
				}
			}
			if winner == nil {
				t.Fatalf("no create succeeded: %v", errs)
			}
			h := winner.Host
			agents, err := core.ListAgents(ctx, h, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(agents) != 1 || agents[0].Record.ID != winner.Agent.ID || agents[0].State != core.AgentWaiting && agents[0].State != core.AgentRunning {
				t.Errorf("agents after the race: %+v", agents)
			}
			out, _ := exec.CommandContext(ctx, "tmux", "list-sessions", "-F", "#{session_name}").Output()
			if got := strings.Fields(string(out)); !cmp.Equal(got, []string{prefix + "race2"}) {
				t.Errorf("tmux sessions %v", got)
			}
			entries, _ := os.ReadDir(filepath.Join(h.HostDir, "agents"))
			if len(entries) != 1 {
				t.Errorf("%d agent state dirs, want 1", len(entries))
			}
			if fromRepo {
				wt, _ := exec.CommandContext(ctx, "git", "-C", repo, "worktree", "list", "--porcelain").Output()
				if c := strings.Count(string(wt), "worktree "); c != 2 || !strings.Contains(string(wt), winner.Agent.WorkDir) {
					t.Errorf("worktrees after the race:\n%s", wt)
				}
				br, _ := exec.CommandContext(ctx, "git", "-C", repo, "branch", "--format=%(refname:short)").Output()
				if got := strings.Fields(string(br)); !cmp.Equal(got, []string{"main", "mngr/race2"}) {
					t.Errorf("branches after the race: %v", got)
				}
				head, _ := exec.CommandContext(ctx, "git", "-C", winner.Agent.WorkDir, "branch", "--show-current").Output()
				if strings.TrimSpace(string(head)) != "mngr/race2" {
					t.Errorf("the winner's worktree is on %q", head)
				}
				copies, _ := os.ReadDir(filepath.Join(h.HostDir, "worktrees"))
				if len(copies) != 1 {
					t.Errorf("%d worktree dirs, want 1", len(copies))
				}
			}
			if err := core.DestroyAgent(ctx, h, prefix, winner.Agent); err != nil {
				t.Fatal(err)
			}
			// The name is free again once its agent is gone.
			req := reqs[0]
			req.Transfer = nil
			res, err := core.Create(ctx, req)
			if err != nil {
				t.Fatalf("create after destroy: %v", err)
			}
			_ = core.DestroyAgent(ctx, h, prefix, res.Agent)
		})
	}
}
