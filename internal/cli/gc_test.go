package cli

import (
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
			"build_cache_destroyed": []any{}, "errors": []any{}, "failures": []any{}, "dry_run": tt.dryRun,
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
