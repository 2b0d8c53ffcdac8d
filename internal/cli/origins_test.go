package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
)

// Creates that finish side by side each record their agent: none is lost
// to another's read-modify-write of origins.json.
func TestOriginsConcurrentPutsKeepEveryEntry(t *testing.T) {
	o := agentOrigins{path: filepath.Join(t.TempDir(), "host", "origins.json")}
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := core.AgentID(fmt.Sprintf("agent-%032x", i+1))
			o.put(context.Background(), "local", core.AgentRecord{ID: id, Name: fmt.Sprintf("a%d", i)})
		}()
	}
	wg.Wait()
	if got := len(o.load()); got != n {
		t.Fatalf("origins.json holds %d entries after %d concurrent puts", got, n)
	}
	o.drop([]core.AgentID{core.AgentID(fmt.Sprintf("agent-%032x", 1))})
	if got := len(o.load()); got != n-1 {
		t.Fatalf("after one drop: %d entries, want %d", got, n-1)
	}
}
