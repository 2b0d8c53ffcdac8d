package vps

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mngr-azure/mngr/internal/core"
	"github.com/mngr-azure/mngr/internal/sshx"
	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
)

// TestKeyFilesArePrivate creates a provider instance's keys under a
// permissive umask (0) and checks that every private key file is 0600, every
// directory mngr created on the way to it is 0700, known_hosts files are
// 0600, and nothing in the key tree is group or world writable.
func TestKeyFilesArePrivate(t *testing.T) {
	sshtest.OpenUmask(t)
	base := t.TempDir()
	dir := KeyDir(base, "azure", "azure-west")
	k, err := EnsureKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := CreateHostKeys(dir, core.NewHostID())
	if err != nil {
		t.Fatal(err)
	}
	if err := sshx.PinHostKey(k.VMKnownHosts, "127.0.0.1", 22, hk.VMHostKeyPub); err != nil {
		t.Fatal(err)
	}
	if err := sshx.PinHostKey(k.ContainerKnownHosts, "127.0.0.1", 2222, hk.ContainerHostKeyPub); err != nil {
		t.Fatal(err)
	}
	// Every directory from providers/ down to keys/, and from there down to
	// the host's own key dir, was created by mngr.
	sshtest.WantDirModes(t, base, dir, 0o700)
	sshtest.WantDirModes(t, dir, hk.Dir, 0o700)
	private := map[string]bool{k.VMKey: true, k.ContainerKey: true, hk.VMHostKey: true, hk.ContainerHostKey: true,
		k.VMKnownHosts: true, k.ContainerKnownHosts: true}
	seen := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()
		if mode&0o022 != 0 {
			t.Errorf("%s is group or world writable: %o", p, mode)
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if private[p] || strings.Contains(string(b), "PRIVATE KEY") {
			seen++
			if mode != 0o600 {
				t.Errorf("%s has mode %o, want 600", p, mode)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(private) {
		t.Errorf("checked %d private files, want %d", seen, len(private))
	}
}
