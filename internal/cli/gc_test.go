package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGCJSON(t *testing.T) {
	tests := []struct {
		args   []string
		dryRun bool
	}{
		{[]string{"gc", "--format", "json", "--dry-run"}, true},
		{[]string{"gc", "--format", "json", "--provider", "fakecloud"}, false},
	}
	for _, tt := range tests {
		te := newTestEnv(t)
		var res map[string]any
		te.mustRun(tt.args...)
		te.jsonOut(&res)
		want := map[string]any{
			"work_dirs_destroyed": []any{}, "machines_destroyed": []any{}, "machines_deleted": []any{},
			"snapshots_destroyed": []any{}, "volumes_destroyed": []any{}, "logs_destroyed": []any{},
			"build_cache_destroyed": []any{}, "errors": []any{}, "failures": []any{}, "dry_run": tt.dryRun, "skipped_hosts": []any{},
			"provider_resources_destroyed": []any{map[string]any{"kind": "public_ip", "name": "leaked-ip", "id": "ip-1", "reason": "no VM", "done": !tt.dryRun}},
		}
		if d := cmp.Diff(want, res); d != "" {
			t.Errorf("%v (-want +got)\n%s", tt.args, d)
		}
		if d := cmp.Diff([]bool{tt.dryRun}, te.cloud.gcCalls); d != "" {
			t.Errorf("gc calls (-want +got)\n%s", d)
		}
	}
}

func TestGCUnknownProvider(t *testing.T) {
	te := newTestEnv(t)
	if code := te.run("gc", "--provider", "nope"); code != 1 {
		t.Errorf("exit = %d", code)
	}
}

// gc --format jsonl always ends with its summary line, even when there was
// nothing to collect.
func TestGCJSONLAlwaysEmitsAResult(t *testing.T) {
	te := newTestEnv(t)
	out := te.mustRun("gc", "--format", "jsonl", "--provider", "local")
	if want := `{"event":"gc_summary","dry_run":false,"count":0,"errors":[],"failures":[],"failure_count":0,"exit_code":0}` + "\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	out = te.mustRun("gc", "--format", "jsonl", "--dry-run", "--provider", "fakecloud")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"event":"gc_result"`) || !strings.Contains(lines[1], `"event":"gc_summary","dry_run":true,"count":1`) {
		t.Errorf("stdout = %q", out)
	}
}

// TestGCOnError: a provider that fails stops gc with --on-error abort (the
// providers after it are named as not collected) and not by default; the
// exit status is 1 either way.
func TestGCOnError(t *testing.T) {
	te := newTestEnv(t)
	args := []string{"gc", "--format", "jsonl", "--dry-run", "--provider", "nope", "--provider", "fakecloud"}
	if code := te.run(append(args, "--on-error", "abort")...); code != 1 ||
		!strings.Contains(te.out.String(), `"count":0`) || !strings.Contains(te.errOut.String(), "fakecloud and the hosts without agents were not collected") {
		t.Errorf("abort: exit %d, stdout %s, stderr %s", code, te.out, te.errOut)
	}
	if code := te.run(args...); code != 1 || !strings.Contains(te.out.String(), `"count":1`) {
		t.Errorf("continue: exit %d, stdout %s, stderr %s", code, te.out, te.errOut)
	}
	if code := te.run("gc", "--on-error", "later"); code != ExitUsage {
		t.Errorf("--on-error later: exit %d", code)
	}
}
