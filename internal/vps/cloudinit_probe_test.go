package vps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The cloud-init probe answers as soon as a marker appears, without
// waiting for the next SSH round trip.
func TestCloudInitProbeAnswersWhenTheMarkerAppears(t *testing.T) {
	dir := t.TempDir()
	ready, failed := filepath.Join(dir, "ready"), filepath.Join(dir, "failed")
	probe := strings.NewReplacer(ReadyMarker, ready, FailedMarker, failed).Replace(cloudInitProbe)
	run := func() (string, time.Duration) {
		start := time.Now()
		out, err := exec.CommandContext(t.Context(), "sh", "-c", probe).CombinedOutput()
		if err != nil {
			t.Fatalf("probe: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out)), time.Since(start)
	}
	go func() {
		time.Sleep(600 * time.Millisecond)
		_ = os.WriteFile(ready, nil, 0o600)
	}()
	out, took := run()
	if out != "READY" {
		t.Fatalf("probe = %q, want READY", out)
	}
	if took > 3*time.Second {
		t.Errorf("probe took %s to see a marker written after 0.6 s", took)
	}
	if err := os.WriteFile(failed, []byte("docker\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _ := run(); out != "FAILED\ndocker" {
		t.Errorf("probe with a failed step = %q", out)
	}
}
