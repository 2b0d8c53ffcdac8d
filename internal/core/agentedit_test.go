package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentLabelEditsKeepEveryLabel: sixteen label edits and a
// rename of one agent at once, each a read and a write on its own round
// trips; every label and the new name are in the record afterwards (the
// compare-and-swap write made the edits that lost the race read again).
func TestConcurrentLabelEditsKeepEveryLabel(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	rec, err := CreateAgent(ctx, h, "t-", AgentSpec{Name: "busy", Type: "command", Command: "true", Labels: map[string]string{"keep": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := SetAgentLabels(ctx, h, rec.ID, map[string]string{fmt.Sprintf("l%02d", i): "v"}, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := RenameAgent(ctx, h, "t-", rec.ID, "renamed"); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r, err := readAgentRecord(ctx, h, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.rec.Labels["keep"] != "yes" {
		t.Errorf("the label from create is gone: %v", r.rec.Labels)
	}
	got := 0
	for i := range n {
		if r.rec.Labels[fmt.Sprintf("l%02d", i)] == "v" {
			got++
		}
	}
	if got != n || r.rec.Name != "renamed" {
		t.Errorf("%d of %d labels and name %q survive: %v", got, n, r.rec.Name, r.rec.Labels)
	}
	if _, err := os.Stat(filepath.Join(h.HostDir, "agents", string(rec.ID), "data.json.lock")); err != nil {
		t.Errorf("the edits took no record lock: %v", err)
	}
}

// TestRecordWriteRefusesAChangedRecord: a write prepared from a read is
// refused (exitRecordChanged) once the record changed after that read.
func TestRecordWriteRefusesAChangedRecord(t *testing.T) {
	ctx := context.Background()
	h := testHost(t)
	rec, err := CreateAgent(ctx, h, "t-", AgentSpec{Name: "cas", Type: "command", Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := readAgentRecord(ctx, h, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetAgentLabels(ctx, h, rec.ID, map[string]string{"a": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	stale := r.rec
	stale.Labels = map[string]string{"b": "2"}
	write, err := recordWriteScript(h, stale, r.raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Exec.Run(ctx, recordCASScript(h, rec.ID, r.sum, write), RunOptions{})
	if err != nil || res.ExitCode != exitRecordChanged {
		t.Fatalf("a stale write: %+v %v (want exit %d)", res, err, exitRecordChanged)
	}
	now, err := readAgentRecord(ctx, h, rec.ID)
	if err != nil || now.rec.Labels["a"] != "1" || now.rec.Labels["b"] != "" {
		t.Fatalf("after the refused write: %+v %v", now.rec.Labels, err)
	}
}
