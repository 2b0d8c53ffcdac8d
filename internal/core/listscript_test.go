package core

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A listing of a host without agents spares tmux and ps (most of what
// `mngr list` costs on an empty machine); CreateAgent's listing still asks
// tmux, for its session-name check; any agent record brings both back.
func TestListScriptSkipsTmuxAndPsWithoutAgents(t *testing.T) {
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	for _, tool := range []string{"tmux", "ps"} {
		if err := os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\necho "+tool+" >> '"+calls+"'\n"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	h := testHost(t)
	ran := func(panesAlways bool) string {
		t.Helper()
		_ = os.Remove(calls)
		if _, err := h.listing(context.Background(), panesAlways); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(calls)
		return string(b)
	}
	if got := ran(false); got != "" {
		t.Errorf("listing an empty host ran %q", got)
	}
	if got := ran(true); got != "tmux\nps\n" {
		t.Errorf("listing for a create ran %q, want tmux and ps", got)
	}
	dir := filepath.Join(h.HostDir, "agents", "agent-0123456789abcdef0123456789abcdef")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(`{"id":"agent-0123456789abcdef0123456789abcdef","name":"a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ran(false); got != "tmux\nps\n" {
		t.Errorf("listing a host with an agent ran %q, want tmux and ps", got)
	}
}

// The LAST field of a record line is the agent's idle measure (mngr list's
// idle, cleanup --idle-for): the newest of the agent's and its host's
// activity stamps, the process heartbeat left out.
func TestListScriptLastActivityLeavesOutTheHeartbeat(t *testing.T) {
	host := t.TempDir()
	agent := filepath.Join(host, "agents", "agent-1")
	for _, d := range []string{filepath.Join(agent, "activity"), filepath.Join(host, "activity")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(agent, "data.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	stamp := func(p string, unix int64) {
		t.Helper()
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		at := time.Unix(unix, 0)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	stamp(filepath.Join(agent, "activity", "create"), 150)
	stamp(filepath.Join(agent, "activity", "process"), 900)
	last := func() string {
		t.Helper()
		out, err := exec.CommandContext(context.Background(), "sh", "-c", listAgentsSh, "sh", filepath.Join(host, "agents"), "0").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) == 4 && f[0] == "@@MNGR_RECORD" {
				return f[3]
			}
		}
		t.Fatalf("no record line in %q", out)
		return ""
	}
	if got := last(); got != "150" {
		t.Errorf("LAST = %s, want 150 (the process heartbeat is not activity)", got)
	}
	stamp(filepath.Join(host, "activity", "ssh"), 400)
	if got := last(); got != "400" {
		t.Errorf("LAST = %s, want 400 (the host's ssh stamp counts for its agents)", got)
	}
}
