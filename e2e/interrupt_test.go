//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/testenv"
)

// The interrupt matrix: like the crash matrix, but the user presses Ctrl-C
// (SIGINT to the mngr process) instead of the process being killed. mngr
// must then finish or undo what it made before it returns (exit 130), so
// once it has returned — or after one `mngr gc` run right away — no billed
// resource remains that does not belong to a live agent, and every mngr VM
// left shows in `mngr list`.

// interruptRun runs mngr with --format jsonl and sends it SIGINT when it
// starts the first progress step whose normalized name is not in seen
// (marking it seen). It returns that step ("" when the command ran to its
// end without one), the exit code and everything mngr printed.
func interruptRun(t *testing.T, j *journey, seen map[string]bool, norm func(string) string, args ...string) (string, int, string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(context.Background(), filepath.Join(binDir, "mngr"), append(args, "--format", "jsonl")...)
	cmd.Env, cmd.Dir = j.env, j.dir
	cmd.Stdout, cmd.Stderr = &out, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	// A command that does not return in 8 minutes is a failure (its undo
	// is bounded by 5).
	timer := time.AfterFunc(8*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	step := ""
	var errOut strings.Builder
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		errOut.WriteString(sc.Text() + "\n")
		if step != "" {
			continue
		}
		var ev struct {
			Event, Step, Status string
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "progress" || ev.Status != "started" {
			continue
		}
		if s := norm(ev.Step); !seen[s] {
			seen[s], step = true, s
			_ = cmd.Process.Signal(syscall.SIGINT)
		}
	}
	_ = pr.Close()
	err = cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	all := out.String() + errOut.String()
	t.Logf("$ mngr %s (interrupted at %q) → exit %d\n%s", strings.Join(args, " "), step, code, all)
	if step != "" && code != 0 && code != 130 {
		t.Errorf("interrupted at %q, mngr exited %d, want 130 (or 0 when it had finished)", step, code)
	}
	return step, code, all
}

// listed is what `mngr list --format json` shows: agent names and the
// names of orphan hosts.
func listed(t *testing.T, j *journey) (agents []string, orphans []string) {
	t.Helper()
	out, _, err := j.mngr("list", "--format", "json")
	if err != nil {
		t.Fatalf("mngr list: %v", err)
	}
	var res struct {
		Agents []struct {
			Name string `json:"name"`
		} `json:"agents"`
		OrphanHosts []struct {
			Name string `json:"name"`
		} `json:"orphan_hosts"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("list output: %v\n%s", err, out)
	}
	for _, a := range res.Agents {
		agents = append(agents, a.Name)
	}
	for _, o := range res.OrphanHosts {
		orphans = append(orphans, o.Name)
	}
	return agents, orphans
}

// azsimVMs counts the VMs azsim holds.
func azsimVMs(j *journey) int {
	vms, _ := j.azsimState()["vms"].([]any)
	return len(vms)
}

// checkNothingHidden asserts the promise after an interrupted command on
// azsim: every VM shows in `mngr list` (as an agent's host or an orphan
// host); then, with the agent (if the command finished) destroyed and one
// `mngr gc` run at once, azsim is back to baseline.
func checkNothingHidden(t *testing.T, j *journey, name string, baseline map[string]int) {
	t.Helper()
	agents, orphans := listed(t, j)
	live := 0
	for _, a := range agents {
		if a == name {
			live = 1
		}
	}
	if vms := azsimVMs(j); vms > live+len(orphans) {
		t.Errorf("%d VM(s) in azsim, but mngr list shows %d agent host(s) and orphan hosts %v: a VM is invisible", vms, live, orphans)
	}
	if live == 1 {
		j.must("destroy", "-f", name)
	}
	j.must("gc")
	if got := hostResources(j); !sameCounts(got, baseline) {
		t.Errorf("after interrupting %s and one gc: %v (baseline %v)", name, got, baseline)
	}
	if agents, orphans := listed(t, j); len(orphans) > 0 || len(agents) > 0 {
		t.Errorf("after the clean-up mngr list still shows agents %v, orphan hosts %v", agents, orphans)
	}
}

// TestInterruptMatrixARM interrupts `mngr create --provider azure` right
// after each of its ARM writes (azsim with --vm-backend none: the steps
// before host setup, which need no machine) and checks that what it made is
// undone or visible and collected by one gc right away. At the first write
// it also pauses the create (SIGSTOP) and runs gc meanwhile: a create in
// flight must not be collected.
func TestInterruptMatrixARM(t *testing.T) {
	if testing.Short() {
		t.Skip("interrupt matrix runs mngr against azsim; skipped with -short")
	}
	start := time.Now()
	j := startMachinelessJourney(t)
	j.must("azure", "prepare")
	baseline := hostResources(j)
	points := 0
	for k := 1; k <= 40; k++ {
		name := fmt.Sprintf("i%d", k)
		from := logSize(j.data)
		var out bytes.Buffer
		cmd := j.startMngr(&out, "create", name, "--provider", "azure", "--no-connect")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		interrupted := false
		deadline := time.After(4 * time.Minute)
	wait:
		for {
			select {
			case err := <-done:
				t.Logf("create %s ended before write %d: %v\n%s", name, k, err, out.String())
				break wait
			case <-deadline:
				_ = cmd.Process.Kill()
				t.Fatalf("create %s hung", name)
			case <-time.After(time.Millisecond):
				if armWrites(t, j.data, from) < k {
					continue
				}
				if k == 1 {
					_ = cmd.Process.Signal(syscall.SIGSTOP)
					before := hostResources(j)
					j.must("gc")
					if got := hostResources(j); !sameCounts(got, before) {
						t.Errorf("gc collected a create in flight: %v → %v", before, got)
					}
					_ = cmd.Process.Signal(syscall.SIGCONT)
				}
				_ = cmd.Process.Signal(syscall.SIGINT)
				err := <-done
				interrupted = true
				var ee *exec.ExitError
				if !errors.As(err, &ee) || (ee.ExitCode() != 130 && ee.ExitCode() != 1) {
					t.Errorf("create %s interrupted after write %d: %v, want exit 130", name, k, err)
				}
				t.Logf("create %s interrupted after write %d: %v\n%s", name, k, err, out.String())
				break wait
			}
		}
		checkNothingHidden(t, j, name, baseline)
		if !interrupted {
			t.Logf("interrupt points: %d ARM writes; leftovers after one gc: checked each (%s)", points, time.Since(start).Round(time.Second))
			return
		}
		points++
	}
	t.Fatal("create never ended on its own within 40 ARM writes")
}

// localJourney is a journey for the local provider: its own home, host dir,
// tmux server and a git repository to create agents from.
func localJourney(t *testing.T) (*journey, string) {
	t.Helper()
	work := t.TempDir()
	home := filepath.Join(work, "home")
	if err := os.MkdirAll(filepath.Join(home, ".mngr"), 0o700); err != nil {
		t.Fatal(err)
	}
	tmuxDir, err := os.MkdirTemp("", "mngr-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	j := &journey{t: t, dir: work, data: filepath.Join(work, "no-azsim")}
	j.env = []string{"HOME=" + home, "MNGR_HOST_DIR=" + filepath.Join(home, ".mngr"),
		fmt.Sprintf("MNGR_PREFIX=mngri%d-", time.Now().UnixNano()%100000), "PATH=" + os.Getenv("PATH"),
		"TMUX_TMPDIR=" + tmuxDir, "TMUX="}
	t.Cleanup(func() {
		kill := exec.CommandContext(context.Background(), "tmux", "kill-server")
		kill.Env = append(os.Environ(), "TMUX_TMPDIR="+tmuxDir)
		_ = kill.Run()
		_ = os.RemoveAll(tmuxDir)
	})
	repo := journeyRepo(t, j)
	return j, repo
}

// worktrees lists the work dirs git knows in repo besides repo itself,
// and the directories under the host dir's worktrees/.
func worktrees(t *testing.T, j *journey, repo string) (git []string, dirs []string) {
	t.Helper()
	for _, line := range strings.Split(gitAt(t, repo, "worktree", "list", "--porcelain"), "\n") {
		if p, ok := strings.CutPrefix(line, "worktree "); ok && p != repo {
			git = append(git, p)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(j.envValue("MNGR_HOST_DIR"), "worktrees"))
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	return git, dirs
}

// TestInterruptMatrixLocal interrupts create (with its git-worktree
// transfer), stop, start and destroy of a local agent at each of their
// progress steps, and checks: exit 130 (or 0 when the command had
// finished), the agent is either whole and listed or gone, no partial work
// dir or worktree stays, and a destroy stopped half-way is finished by
// running destroy again (its error says so).
func TestInterruptMatrixLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("interrupt matrix runs mngr with tmux; skipped with -short")
	}
	j, repo := localJourney(t)
	norm := func(s string) string { return strings.ReplaceAll(s, repo, "<repo>") }
	const name = "intr"
	create := []string{"create", name, "--no-connect", "--type", "command", "--command", "sleep 100000"}
	exists := func() bool {
		agents, _ := listed(t, j)
		for _, a := range agents {
			if a == name {
				return true
			}
		}
		return false
	}
	points := map[string]int{}
	checkTree := func(what string) {
		git, dirs := worktrees(t, j, repo)
		want := 0
		if exists() {
			want = 1
		}
		if len(git) != want || len(dirs) != want {
			t.Errorf("after %s: %d agent(s), but worktrees %v and work dirs %v", what, want, git, dirs)
		}
	}
	// create, interrupted at each step; an agent that was made is destroyed
	// with its branch before the next round.
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		step, _, _ := interruptRun(t, j, seen, norm, create...)
		checkTree("create interrupted at " + step)
		if exists() {
			j.must("destroy", "-f", "--remove-created-branch", name)
		} else if out := gitAt(t, repo, "branch", "--list", "mngr/"+name); strings.TrimSpace(out) != "" {
			t.Errorf("create interrupted at %q left branch mngr/%s without an agent", step, name)
			gitAt(t, repo, "branch", "-D", "mngr/"+name)
		}
		if step == "" {
			break
		}
		points["create"]++
	}
	// stop and start, each interrupted at each of its steps.
	j.must(create...)
	for _, verb := range []string{"stop", "start"} {
		seen := map[string]bool{}
		for i := 0; i < 10; i++ {
			if verb == "stop" {
				j.must("start", name)
			} else {
				j.must("stop", name)
			}
			step, _, _ := interruptRun(t, j, seen, norm, verb, name)
			if !exists() {
				t.Fatalf("%s interrupted at %q lost the agent", verb, step)
			}
			checkTree(verb + " interrupted at " + step)
			if step == "" {
				break
			}
			points[verb]++
		}
	}
	// destroy, interrupted at each step; what it leaves is finished by
	// destroy again.
	seen = map[string]bool{}
	for i := 0; i < 10; i++ {
		if !exists() {
			j.must(create...)
		}
		step, code, out := interruptRun(t, j, seen, norm, "destroy", "-f", name)
		if exists() {
			if code == 0 {
				t.Errorf("destroy interrupted at %q exited 0, but the agent remains", step)
			}
			if !strings.Contains(out, "mngr destroy") {
				t.Errorf("destroy interrupted at %q left the agent without saying to run destroy again", step)
			}
			j.must("destroy", "-f", name)
		}
		checkTree("destroy interrupted at " + step)
		// destroy deletes the agent's branch when it holds no commits of its
		// own (it holds none here); a branch left by an interrupted destroy
		// goes too, so the next create makes it again.
		if strings.TrimSpace(gitAt(t, repo, "branch", "--list", "mngr/"+name)) != "" {
			gitAt(t, repo, "branch", "-D", "mngr/"+name)
		}
		if step == "" {
			break
		}
		points["destroy"]++
	}
	t.Logf("local interrupt points: %v; leftovers found: see errors above (none when passing)", points)
}

// TestInterruptMatrixHostSetup interrupts create (with its git-mirror
// transfer), stop, start and destroy of an agent on azsim with real
// simulated VMs at each of their progress steps, and checks after each
// that no VM is invisible and that, with one gc, nothing billed remains.
// It needs docker and the images (MNGR_TEST_VM_IMAGE).
func TestInterruptMatrixHostSetup(t *testing.T) {
	// Mostly waiting on simulated VMs (boot, cloud-init, docker load): it
	// runs beside the other VM journeys (its own azsim and addresses).
	t.Parallel()
	if os.Getenv("MNGR_TEST_VM_IMAGE") == "" {
		testenv.Missing(t, "MNGR_TEST_VM_IMAGE is not set (scripts/setup.sh builds the simulated-VM image)")
	}
	needDockerJourney(t, "interrupts commands on real simulated VMs")
	j := startAzsimJourney(t, "docker")
	j.must("azure", "prepare")
	baseline := hostResources(j)
	journeyRepo(t, j)
	j.useDefaultTransfer()
	const name = "hs"
	norm := func(s string) string {
		s = vmNameRE.ReplaceAllString(s, "<vm>")
		s = strings.ReplaceAll(s, j.dir, "<repo>")
		return path.Clean(strings.ReplaceAll(s, name, "<agent>"))
	}
	create := []string{"create", name, "--provider", "azure", "--no-connect"}
	points := map[string]int{}
	// create: the steps from the VM on (the ARM steps before it are
	// TestInterruptMatrixARM's).
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		step, _, _ := interruptRun(t, j, seen, norm, create...)
		checkNothingHidden(t, j, name, baseline)
		if c := containersOf(t, j.data); len(c) != 0 {
			t.Errorf("create interrupted at %q: containers remain %v", step, c)
		}
		if step == "" {
			break
		}
		points["create"]++
	}
	// stop, start and destroy of a live agent.
	for _, verb := range []string{"stop", "start", "destroy"} {
		seen := map[string]bool{}
		for i := 0; i < 10; i++ {
			agents, _ := listed(t, j)
			if len(agents) == 0 {
				j.must(create...)
			}
			if verb == "start" {
				_, _, _ = j.mngr("stop", name)
			}
			args := []string{verb, name}
			if verb == "destroy" {
				args = []string{verb, "-f", name}
			}
			step, _, out := interruptRun(t, j, seen, norm, args...)
			agents, orphans := listed(t, j)
			if verb != "destroy" && len(agents) != 1 {
				t.Errorf("%s interrupted at %q: agents %v", verb, step, agents)
			}
			if verb == "destroy" && len(agents) == 1 && !strings.Contains(out, "mngr destroy") {
				t.Errorf("destroy interrupted at %q left the agent without saying to run destroy again", step)
			}
			if vms := azsimVMs(j); vms > len(agents)+len(orphans) {
				t.Errorf("%s interrupted at %q: %d VM(s), list shows agents %v and orphan hosts %v", verb, step, vms, agents, orphans)
			}
			if verb == "destroy" {
				checkNothingHidden(t, j, name, baseline)
			}
			if step == "" {
				break
			}
			points[verb]++
		}
	}
	_, _, _ = j.mngr("destroy", "-f", name)
	checkNothingHidden(t, j, name, baseline)
	if c := containersOf(t, j.data); len(c) != 0 {
		t.Errorf("containers remain: %v", c)
	}
	t.Logf("docker interrupt points: %v", points)
}

// TestAzureOutageDuringCreate: Azure (azsim) stops answering right after
// the VM of a create exists (every ARM request 503 until the test clears
// the fault), so the create fails and cannot clean up. Once azsim answers
// again, `mngr list` shows the VM as an orphan host, `mngr gc --dry-run`
// lists it at once (no 30 min wait: its create's process has ended), and
// one `mngr gc` leaves nothing.
func TestAzureOutageDuringCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mngr against azsim; skipped with -short")
	}
	j := startMachinelessJourney(t)
	j.must("azure", "prepare")
	baseline := hostResources(j)
	from := logSize(j.data)
	var out bytes.Buffer
	cmd := j.startMngr(&out, "create", "outage", "--provider", "azure", "--no-connect")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for armWrites(t, j.data, from) < 3 { // public IP, NIC, VM
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the create made no VM")
		}
		time.Sleep(time.Millisecond)
	}
	j.admin(http.MethodPost, "/faults", `{"path":"/subscriptions/","status":503,"code":"ServiceUnavailable","message":"held down by the test"}`)
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("the create succeeded while Azure was down:\n%s", out.String())
		}
		t.Logf("create during the outage: %v\n%s", err, out.String())
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the create did not end during the outage")
	}
	j.admin(http.MethodDelete, "/faults", "")
	if hostResources(j)["vm"] == baseline["vm"] {
		t.Log("the create's VM did not survive the outage; nothing to find")
	}
	if vms := azsimVMs(j); vms > 0 {
		if _, orphans := listed(t, j); len(orphans) != vms {
			t.Errorf("%d VM(s) left by the outage, mngr list shows orphan hosts %v", vms, orphans)
		}
		dry := j.must("gc", "--dry-run")
		if !strings.Contains(dry, "Would remove virtual-machine mngr-outage-host-") {
			t.Errorf("gc --dry-run does not list the VM at once:\n%s", dry)
		}
	}
	j.must("gc")
	if got := hostResources(j); !sameCounts(got, baseline) {
		t.Errorf("after the outage and one gc: %v (baseline %v)", got, baseline)
	}
}
