package sshx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mngr-azure/mngr/internal/sshx/sshtest"
)

// TestEnsureKeyModesUnderOpenUmask checks that a key written under a
// permissive umask (0) is still 0600 in a 0700 directory (every directory
// level EnsureKey creates), that rebuilding a lost .pub leaves the private key
// 0600, and that a pinned known_hosts file is 0600 in a 0700 directory.
func TestEnsureKeyModesUnderOpenUmask(t *testing.T) {
	sshtest.OpenUmask(t)
	base := t.TempDir()
	key := filepath.Join(base, "a", "b", "id_ed25519")
	pub, err := EnsureKey(key, "c")
	if err != nil {
		t.Fatal(err)
	}
	sshtest.WantMode(t, key, 0o600)
	sshtest.WantMode(t, key+".pub", 0o644)
	sshtest.WantDirModes(t, base, filepath.Dir(key), 0o700) // a/b and a
	if err := os.Remove(key + ".pub"); err != nil {
		t.Fatal(err)
	}
	if again, err := EnsureKey(key, "c"); err != nil || again != pub {
		t.Fatalf("rebuild .pub: %q, %v; want %q", again, err, pub)
	}
	sshtest.WantMode(t, key, 0o600)
	kh := filepath.Join(base, "kh", "known_hosts")
	if err := PinHostKey(kh, "127.0.0.1", 22, pub); err != nil {
		t.Fatal(err)
	}
	sshtest.WantMode(t, kh, 0o600)
	sshtest.WantDirModes(t, base, filepath.Dir(kh), 0o700)
}
