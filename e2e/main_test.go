//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binDir holds the mngr binary built once for all system tests (and the
// azsim binary, built the first time a test starts an azsim).
var binDir string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mngr-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// Built as the releases are (Makefile, .goreleaser.yaml): static, no cgo,
	// stripped, so the system tests and the start-up benchmarks run what
	// ships. A cgo build here links libc dynamically, and the dynamic loader
	// alone added ~60–100 page faults to every start (docs/BENCHMARKS.md).
	build := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(dir, "mngr"), "github.com/mngr-azure/mngr/cmd/mngr")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build mngr: %v\n", err)
		return 1
	}
	binDir = dir
	return m.Run()
}
