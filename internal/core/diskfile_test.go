package core

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smallDisk mounts a 64 KiB tmpfs for the test and fills it, or skips the
// test when this machine does not let it mount one (not root, no mount).
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.CommandContext(context.Background(), "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s); the disk-full test needs one", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.CommandContext(context.Background(), "umount", dir).Run() })
	return dir
}

// fill writes into dir until the file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	chunk := make([]byte, 4096)
	for i := 0; i < 64; i++ { // 256 KiB at most, four times the disk
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
	t.Fatal("a 64 KiB tmpfs took 256 KiB")
}

// leftovers lists the temporary files under dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A full disk: the write fails with ErrDiskFull naming the directory, and
// no temporary file is left behind (in Go, and in the host-dir scripts).
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t)
	settings := filepath.Join(dir, "mngr")
	if err := os.Mkdir(settings, 0o700); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(filepath.Join(settings, "settings.toml"), make([]byte, 128<<10), 0o600)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "file system holding "+settings+" is full") || !strings.Contains(HintOf(err), "df -h "+settings) {
		t.Fatalf("write on a full disk: %v (hint %q)", err, HintOf(err))
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporary files left: %v", l)
	}

	h := &Host{DiscoveredHost: DiscoveredHost{ID: NewHostID(), Name: "test"}, HostDir: filepath.Join(dir, "host"), Exec: shExecutor{}}
	if err := os.Mkdir(h.HostDir, 0o700); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)
	_, err = CreateAgent(context.Background(), h, "mngrt-", AgentSpec{Name: "full", Type: "command", Command: "true", WorkDir: t.TempDir(),
		Env: []string{"BIG=" + strings.Repeat("x", 16<<10)}})
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), h.HostDir) {
		t.Fatalf("create an agent on a full disk: %v", err)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporary files left by the host scripts: %v", l)
	}
}
