package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHelperMissing is run by TestMissing in a child process only.
func TestHelperMissing(t *testing.T) {
	if os.Getenv("MNGR_TESTENV_CHILD") != "1" {
		t.Skip("child of TestMissing only")
	}
	NeedTools(t, "surely-not-a-tool-on-path")
	t.Log("still running")
}

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		requireAll string
		wantFail   bool
	}{
		{"skips by default", "", false},
		{"fails under scripts/test.sh", "1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "skips")
			cmd := exec.CommandContext(context.Background(), os.Args[0], "-test.run=^TestHelperMissing$", "-test.v")
			cmd.Env = append(os.Environ(), "MNGR_TESTENV_CHILD=1", RequireAllVar+"="+tc.requireAll, SkipLogVar+"="+log)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Fatalf("child failed = %v, want %v\n%s", failed, tc.wantFail, out)
			}
			if strings.Contains(string(out), "still running") {
				t.Errorf("the test went on after Missing:\n%s", out)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if want := "TestHelperMissing: surely-not-a-tool-on-path is not installed\n"; string(b) != want {
				t.Errorf("skip log = %q, want %q", b, want)
			}
		})
	}
}
