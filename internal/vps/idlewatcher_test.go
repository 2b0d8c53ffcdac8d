package vps

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
