package vps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mngr-azure/mngr/internal/core"
)

func runWatcher(t *testing.T, budget time.Duration, args ...string) (out string, timedOut bool, err error) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "idle_watcher.sh")
	if err := os.WriteFile(script, []byte(IdleWatcherScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	b, err := exec.CommandContext(ctx, "sh", append([]string{script}, args...)...).CombinedOutput()
	return string(b), ctx.Err() != nil, err
}

func TestIdleWatcherTouchesSentinelWhenIdle(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "agents", "agent-1", "activity"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, timedOut, err := runWatcher(t, 30*time.Second, dir, "3", "1")
	if err != nil || timedOut {
		t.Fatalf("watcher: %v (timed out %v)\n%s", err, timedOut, out)
	}
	if _, err := os.Stat(filepath.Join(dir, SentinelRelPath)); err != nil {
		t.Errorf("sentinel not written: %v", err)
	}
	if !strings.Contains(out, "requested stop") {
		t.Errorf("watcher output %q", out)
	}
	// `date +%s` counts whole seconds, so a 3s timeout may fire after 2s.
	if el := time.Since(start); el < 2*time.Second {
		t.Errorf("watcher fired after %v, before its 3s timeout", el)
	}
}

func TestIdleWatcherWaitsWhileActive(t *testing.T) {
	dir := t.TempDir()
	act := filepath.Join(dir, "agents", "agent-1", "activity")
	if err := os.MkdirAll(act, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(act, "agent")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Activity stamped a minute ahead stands for an agent that keeps working.
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(f, future, future); err != nil {
		t.Fatal(err)
	}
	out, timedOut, _ := runWatcher(t, 4*time.Second, dir, "1", "1")
	if !timedOut {
		t.Fatalf("watcher exited although the host is active:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, SentinelRelPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sentinel written while active: %v", err)
	}
}

// An agent whose process only runs (the "process" heartbeat every agent
// writes) is idle in IO mode: the watcher still fires.
func TestIdleWatcherIgnoresProcessHeartbeat(t *testing.T) {
	dir := t.TempDir()
	act := filepath.Join(dir, "agents", "agent-1", "activity")
	if err := os.MkdirAll(act, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(act, "process")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(f, future, future); err != nil {
		t.Fatal(err)
	}
	out, timedOut, err := runWatcher(t, 30*time.Second, dir, "2", "1")
	if err != nil || timedOut {
		t.Fatalf("watcher kept the host awake for a running but idle agent: %v (timed out %v)\n%s", err, timedOut, out)
	}
	if _, err := os.Stat(filepath.Join(dir, SentinelRelPath)); err != nil {
		t.Errorf("sentinel not written: %v", err)
	}
}

func TestIdleWatcherRejectsBadArgs(t *testing.T) {
	for _, args := range [][]string{{"/tmp", "abc"}, {"/tmp", ""}, {"/tmp", "5", "1s"}} {
		out, _, err := runWatcher(t, 10*time.Second, args...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("args %q: err %v, want exit 2\n%s", args, err, out)
		}
	}
}

// stampFuture writes an activity file dated a minute ahead: activity that
// keeps happening while the test runs.
func stampFuture(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
}

// activityFile is where source's activity is recorded under dir.
func activityFile(dir, source string) string {
	for _, s := range core.HostSources {
		if s == source {
			return filepath.Join(dir, "activity", source)
		}
	}
	return filepath.Join(dir, "agents", "agent-1", "activity", source)
}

func writePolicy(t *testing.T, dir string, p core.IdlePolicy) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "idle_policy"), []byte(core.RenderIdlePolicy(p)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Every mode: fresh activity of one of its sources keeps the host running,
// fresh activity of a source outside it does not.
func TestIdleWatcherModes(t *testing.T) {
	outside := map[string]string{
		"io": "process", "run": "user", "user": "agent", "agent": "process", "ssh": "user",
		"create": "start", "boot": "ssh", "start": "agent",
	}
	for _, mode := range core.IdleModeNames {
		if mode == core.ModeDisabled {
			continue
		}
		pol, err := core.NewIdlePolicy(2, mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, keep := range []bool{true, false} {
			src := pol.Sources[len(pol.Sources)-1]
			if !keep {
				src = outside[mode]
			}
			t.Run(fmt.Sprintf("%s/%s", mode, src), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				if err := os.MkdirAll(filepath.Join(dir, "agents", "agent-1", "activity"), 0o755); err != nil {
					t.Fatal(err)
				}
				writePolicy(t, dir, pol)
				stampFuture(t, activityFile(dir, src))
				budget := 20 * time.Second
				if keep {
					budget = 5 * time.Second
				}
				out, timedOut, err := runWatcher(t, budget, dir, "3600", "1")
				_, serr := os.Stat(filepath.Join(dir, SentinelRelPath))
				switch {
				case keep && (!timedOut || serr == nil):
					t.Errorf("mode %s stopped the host although %s activity is fresh:\n%s", mode, src, out)
				case !keep && (err != nil || timedOut || serr != nil):
					t.Errorf("mode %s kept the host for %s activity it does not count: %v (timed out %v)\n%s", mode, src, err, timedOut, out)
				}
				if !strings.Contains(out, "mode="+mode) {
					t.Errorf("watcher log does not name the policy's mode %s:\n%s", mode, out)
				}
			})
		}
	}
}

// The watcher rereads the policy at every check: a shorter timeout written
// while it runs (mngr limit) stops the host, a disabled policy never does,
// and enabling it again applies.
func TestIdleWatcherAppliesPolicyChanges(t *testing.T) {
	dir := t.TempDir()
	writePolicy(t, dir, core.IdlePolicy{TimeoutSeconds: 1, Mode: core.ModeDisabled, Sources: []string{}})
	script := filepath.Join(t.TempDir(), "idle_watcher.sh")
	if err := os.WriteFile(script, []byte(IdleWatcherScript), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", script, dir, "3600", "1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("watcher ended under a disabled policy: %v\n%s", err, out.String())
	case <-time.After(4 * time.Second):
	}
	writePolicy(t, dir, core.IdlePolicy{TimeoutSeconds: 3600, Mode: core.ModeIO, Sources: []string{"user", "agent", "ssh", "create", "start", "boot"}})
	time.Sleep(2 * time.Second)
	if _, err := os.Stat(filepath.Join(dir, SentinelRelPath)); err == nil {
		t.Fatal("sentinel written under a one-hour timeout")
	}
	start := time.Now()
	pol, _ := core.NewIdlePolicy(2, "io")
	writePolicy(t, dir, pol)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watcher: %v\n%s", err, out.String())
		}
	case <-ctx.Done():
		t.Fatalf("the shortened timeout never stopped the host:\n%s", out.String())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("the new timeout applied after %v, want within a check or two", el)
	}
	if _, err := os.Stat(filepath.Join(dir, SentinelRelPath)); err != nil {
		t.Errorf("sentinel not written: %v", err)
	}
	for _, want := range []string{"policy disabled", "policy timeout=3600s mode=io", "policy timeout=2s mode=io", "requested stop"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("watcher log misses %q:\n%s", want, out.String())
		}
	}
}
