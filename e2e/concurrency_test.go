//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentCreates runs 10 `mngr create` at once from two mngr homes
// ("machines") sharing one resource group, using the same five agent names
// on both, while `mngr gc` runs in a loop. With --vm-backend none each
// create gets as far as its VM and then rolls back (no machine to set up),
// so the test checks that all 10 reached a VM of their own (10 distinct VM
// names created, no conflict), that no gc during the creates removed
// anything, and that nothing is left afterwards.
func TestConcurrentCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 10 mngr creates against azsim; skipped with -short")
	}
	j := startMachinelessJourney(t)
	j.must("azure", "prepare")
	baseline := hostResources(j)
	// The second machine: its own home with the same settings.
	home1 := j.envValue("HOME")
	home2 := filepath.Join(j.dir, "home2")
	settings, err := os.ReadFile(filepath.Join(home1, ".mngr", "settings.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home2, ".mngr"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home2, ".mngr", "settings.toml"), settings, 0o600); err != nil {
		t.Fatal(err)
	}
	j2 := &journey{t: t, dir: j.dir, data: j.data}
	for _, kv := range j.env {
		switch {
		case strings.HasPrefix(kv, "HOME="):
			kv = "HOME=" + home2
		case strings.HasPrefix(kv, "MNGR_HOST_DIR="):
			kv = "MNGR_HOST_DIR=" + filepath.Join(home2, ".mngr")
		case strings.HasPrefix(kv, "AZURE_CONFIG_DIR="):
			kv = "AZURE_CONFIG_DIR=" + filepath.Join(home2, ".azure")
		}
		j2.env = append(j2.env, kv)
	}
	from := logSize(j.data)
	start := time.Now()
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 10)
	errs := make([]error, 10)
	for i := range 10 {
		m := j
		if i >= 5 {
			m = j2
		}
		cmd := m.startMngr(&outs[i], "create", fmt.Sprintf("w%d", i%5), "--provider", "azure", "--no-connect")
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Wait() }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	gcRuns := 0
loop:
	for range 200 {
		select {
		case <-done:
			break loop
		default:
		}
		var out bytes.Buffer
		gc := j2.startMngr(&out, "gc")
		if err := gc.Wait(); err != nil {
			t.Errorf("gc during creates: %v\n%s", err, out.String())
		}
		gcRuns++
		if !strings.Contains(out.String(), "0 resource(s) removed") {
			t.Errorf("gc during creates removed something:\n%s", out.String())
		}
	}
	<-done
	took := time.Since(start)
	for i, err := range errs {
		o := outs[i].String()
		// The only acceptable failure is the missing machine after the VM.
		if err != nil && !strings.Contains(o, "host offline") {
			t.Errorf("create %d: %v\n%s", i, err, o)
		}
		if strings.Contains(o, "Conflict") || strings.Contains(o, "already exists") || strings.Contains(o, "InUse") {
			t.Errorf("create %d collided:\n%s", i, o)
		}
	}
	vmPut := regexp.MustCompile(`(?i)/virtualMachines/([^/]+)$`)
	names := map[string]bool{}
	err = eachLoggedRequest(j.data, from, func(line []byte) {
		var l struct {
			Method string `json:"method"`
			Path   string `json:"path"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(line, &l) != nil || l.Method != http.MethodPut || l.Status != http.StatusCreated {
			return
		}
		if m := vmPut.FindStringSubmatch(l.Path); m != nil {
			names[strings.ToLower(m[1])] = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 10 {
		t.Errorf("%d distinct VMs created, want 10: %v", len(names), names)
	}
	t.Logf("10 concurrent creates from 2 homes: %d distinct VMs, %d concurrent gc runs, %s", len(names), gcRuns, took.Round(100*time.Millisecond))
	j.admin(http.MethodPost, "/clock", `{"advance_seconds":300}`)
	j.must("gc")
	if got := hostResources(j); !sameCounts(got, baseline) {
		t.Errorf("after the creates and gc azsim holds %v, baseline %v", got, baseline)
	}
}
