package core

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// countingLocalExec is shExecutor that says its files are local and counts
// the scripts it runs.
type countingLocalExec struct {
	shExecutor
	runs *atomic.Int32
}

func (e countingLocalExec) Run(ctx context.Context, script string, opts RunOptions) (RunResult, error) {
	e.runs.Add(1)
	return e.shExecutor.Run(ctx, script, opts)
}

func (countingLocalExec) FilesAreLocal() bool { return true }

func TestListAgentsOnLocalHostWithoutRecordsRunsNothing(t *testing.T) {
	ctx := context.Background()
	runs := &atomic.Int32{}
	h := testHost(t)
	h.Exec = countingLocalExec{runs: runs}

	// No host dir at all, then an agents dir with a stray entry: no records,
	// so no shell.
	for _, prepare := range []func(){
		func() {},
		func() {
			if err := os.MkdirAll(filepath.Join(h.HostDir, "agents", "agent-half-written"), 0o700); err != nil {
				t.Fatal(err)
			}
		},
	} {
		prepare()
		sts, err := ListAgents(ctx, h, "t-")
		if err != nil || len(sts) != 0 {
			t.Fatalf("ListAgents = %v, %v; want none", sts, err)
		}
		if n := runs.Load(); n != 0 {
			t.Fatalf("ListAgents ran %d scripts on a local host without records; want 0", n)
		}
	}

	// With a record the listing runs (and finds it).
	if _, err := CreateAgent(ctx, h, "t-", AgentSpec{Name: "one", Type: "command", Command: "true"}); err != nil {
		t.Fatal(err)
	}
	before := runs.Load()
	sts, err := ListAgents(ctx, h, "t-")
	if err != nil || len(sts) != 1 || sts[0].Record.Name != "one" {
		t.Fatalf("ListAgents = %+v, %v; want agent one", sts, err)
	}
	if runs.Load() == before {
		t.Fatal("ListAgents did not run the listing script on a host with a record")
	}
}

func TestListAgentsOnRemoteHostAlwaysRuns(t *testing.T) {
	h := testHost(t) // shExecutor: not LocalFiles
	if noLocalAgents(h) {
		t.Fatal("a host whose executor does not say its files are local was treated as local")
	}
}
