package core

import (
	"context"
	"os"
	"path/filepath"
	"testing"
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
