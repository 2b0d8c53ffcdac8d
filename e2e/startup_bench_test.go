//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchExec runs the built binary with args on an empty home, b.N times.
// mngr must start fast: no cloud SDK set-up or network before a command
// needs a provider. Run: go test -tags e2e ./e2e -run '^$' -bench Startup.
func benchExec(b *testing.B, args ...string) {
	home := b.TempDir()
	env := []string{"HOME=" + home, "MNGR_HOST_DIR=" + filepath.Join(home, ".mngr"), "MNGR_PREFIX=mngrbench-", "PATH=" + os.Getenv("PATH")}
	bin := filepath.Join(binDir, "mngr")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.CommandContext(context.Background(), bin, args...)
		cmd.Env = env
		cmd.Dir = home
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("mngr %v: %v\n%s", args, err, out)
		}
	}
}

func BenchmarkStartupHelp(b *testing.B) { benchExec(b, "--help") }

func BenchmarkStartupListEmptyHome(b *testing.B) { benchExec(b, "list") }
