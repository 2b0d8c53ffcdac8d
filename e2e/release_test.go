//go:build e2e

package e2e

import (
	"context"
	"debug/elf"
	"debug/macho"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// stampVars are the link-time version variables the Makefile and
// .goreleaser.yaml set.
var stampVars = []string{
	"github.com/mngr-azure/mngr/internal/cli.Version",
	"github.com/mngr-azure/mngr/internal/cli.Commit",
	"github.com/mngr-azure/mngr/internal/cli.BuildDate",
}

// crossBuild builds mngr and azsim for goos/goarch without cgo into a new
// directory and returns it.
func crossBuild(t *testing.T, goos, goarch string, ldflags string) string {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out+string(filepath.Separator),
		"github.com/mngr-azure/mngr/cmd/mngr", "github.com/mngr-azure/mngr/cmd/azsim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 GOOS=%s GOARCH=%s go build: %v\n%s", goos, goarch, err, b)
	}
	return out
}

// TestCrossBuildPortable proves the tree builds without cgo for the release
// platforms other than this one: no cgo and no Linux-only calls outside
// build-tagged files.
func TestCrossBuildPortable(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiling takes minutes; skipped with -short")
	}
	// A cold build cache needs several minutes per platform on a small
	// machine: run with -timeout 30m (scripts/test.sh gives 45m).
	for _, target := range []struct {
		goos, goarch string
		check        func(t *testing.T, path string)
	}{
		{"linux", "arm64", func(t *testing.T, path string) {
			f, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("%s: machine %v, want aarch64", path, f.Machine)
			}
			// Static: no program interpreter (dynamic loader).
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked", path)
				}
			}
		}},
		{"darwin", "arm64", func(t *testing.T, path string) {
			f, err := macho.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			if f.Cpu != macho.CpuArm64 {
				t.Errorf("%s: cpu %v, want arm64", path, f.Cpu)
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 && !onlySystemLibs(libs) {
				t.Errorf("%s links %v", path, libs)
			}
		}},
	} {
		t.Run(target.goos+"_"+target.goarch, func(t *testing.T) {
			dir := crossBuild(t, target.goos, target.goarch, "-s -w")
			for _, bin := range []string{"mngr", "azsim"} {
				target.check(t, filepath.Join(dir, bin))
			}
		})
	}
}

// onlySystemLibs says whether a darwin binary links only the OS's own
// libraries and frameworks (every Go binary on darwin calls libSystem, and
// crypto/x509 the Security framework, without cgo), nothing a user installs.
func onlySystemLibs(libs []string) bool {
	for _, l := range libs {
		if !strings.HasPrefix(l, "/usr/lib/") && !strings.HasPrefix(l, "/System/Library/") {
			return false
		}
	}
	return true
}

// TestVersionStamping builds mngr as the release does and checks that
// --version reports the stamped version, commit and date, and that the
// Makefile and .goreleaser.yaml set the same variables.
func TestVersionStamping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release binary; skipped with -short")
	}
	for _, file := range []string{"Makefile", ".goreleaser.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range stampVars {
			if !strings.Contains(string(b), "-X "+v+"=") {
				t.Errorf("%s does not set %s", file, v)
			}
		}
	}
	ld := "-s -w -X " + stampVars[0] + "=v0.0.0-test -X " + stampVars[1] + "=cafe123 -X " + stampVars[2] + "=2026-02-03T04:05:06Z"
	dir := crossBuild(t, runtime.GOOS, runtime.GOARCH, ld)
	out, err := exec.CommandContext(t.Context(), filepath.Join(dir, "mngr"), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("mngr --version: %v\n%s", err, out)
	}
	want := "mngr v0.0.0-test (commit cafe123, built 2026-02-03T04:05:06Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
	if strings.TrimSpace(string(out)) != want {
		t.Errorf("--version = %q, want %q", out, want)
	}
}
