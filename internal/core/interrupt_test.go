package core

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUndoContextOutlivesTheCommand(t *testing.T) {
	left := &Leftovers{}
	ctx, cancel := context.WithCancel(WithLeftovers(context.Background(), left))
	cancel()
	uctx, ucancel := UndoContext(ctx, time.Minute)
	defer ucancel()
	if uctx.Err() != nil {
		t.Fatalf("the undo context is cancelled with the command's: %v", uctx.Err())
	}
	if LeftoversFrom(uctx) != left {
		t.Error("the undo context lost the command's values")
	}
	if d, ok := uctx.Deadline(); !ok || time.Until(d) > time.Minute {
		t.Errorf("the undo context is not bounded: deadline %v %v", d, ok)
	}
}

func TestLeftovers(t *testing.T) {
	var none *Leftovers
	none.Add(Leftover{Key: "k"}) // a nil set ignores everything
	none.Forget("k")
	if none.List() != nil {
		t.Error("a nil set lists something")
	}
	s := &Leftovers{}
	s.Add(Leftover{Key: "host-1/attempt-1", Kind: "Azure public IP", Name: "ip1", Remove: "mngr gc"})
	s.Add(Leftover{Key: "host-1/attempt-1", Kind: "Azure virtual machine", Name: "vm1", Remove: "mngr gc"})
	s.Add(Leftover{Key: "agent-1", Kind: "work dir", Name: "/w", Remove: "rm -rf -- /w"})
	s.Add(Leftover{Key: "host-10", Kind: "Azure virtual machine", Name: "vm10", Remove: "mngr gc"})
	want := []string{"ip1", "vm1", "/w", "vm10"}
	if d := cmp.Diff(want, names(s.List())); d != "" {
		t.Errorf("listed (-want +got)\n%s", d)
	}
	// Forgetting a host drops its attempts, not a host whose id it prefixes.
	s.Forget("host-1")
	if d := cmp.Diff([]string{"/w", "vm10"}, names(s.List())); d != "" {
		t.Errorf("after forgetting host-1 (-want +got)\n%s", d)
	}
}

func names(ls []Leftover) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

// TestDestroyHalfRemovedAgent: a destroy stopped half-way (here: the work
// dir and the agent's other state gone, its record left) leaves an agent
// that lists, and a second destroy finishes it.
func TestDestroyHalfRemovedAgent(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	rec, err := CreateAgent(ctx, h, "t-", AgentSpec{ID: NewAgentID(), Name: "half", Type: "command", Command: "sleep 600"})
	if err != nil {
		t.Fatal(err)
	}
	sd := agentStateDir(h, rec.ID)
	entries, err := os.ReadDir(sd)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "data.json" {
			if err := os.RemoveAll(filepath.Join(sd, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.RemoveAll(rec.WorkDir); err != nil {
		t.Fatal(err)
	}
	sts, err := ListAgents(ctx, h, "t-")
	if err != nil || len(sts) != 1 {
		t.Fatalf("a half-removed agent does not list: %v %+v", err, sts)
	}
	if err := DestroyAgent(ctx, h, "t-", rec); err != nil {
		t.Fatalf("destroy of a half-removed agent: %v", err)
	}
	if _, err := os.Stat(sd); !os.IsNotExist(err) {
		t.Errorf("state dir still there: %v", err)
	}
	if sts, err := ListAgents(ctx, h, "t-"); err != nil || len(sts) != 0 {
		t.Errorf("after the second destroy: %v %+v", err, sts)
	}
}
